"""The finemotor server: the relay grown up, and the store of what lasts.

One service (:class:`finemotor.server.app.Server`) is both the relay of live sessions and the
store of recorded ones: therapists and admins sign in, enrolled desks publish and upload their
sessions, and a JSON API serves everything the therapist's pages show (docs/api.md). The store
is SQLite in a data folder (one machine, nothing else to run) or PostgreSQL, with the same
schema and versioned migrations (:mod:`finemotor.server.database`).
"""
