"""The desk's side of the server: enrolment, and store-and-forward upload of its sessions.

:mod:`~finemotor.sync.wire` is the upload's format, shared with the server;
:mod:`~finemotor.sync.credential` keeps the desk's credential; :mod:`~finemotor.sync.uploader`
pushes what is recorded and not yet confirmed.
"""
