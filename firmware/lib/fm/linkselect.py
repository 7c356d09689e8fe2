# Which link a Kit talks through when its caller names none (fm.kit.Kit(..., link=None)).
#
# `factory` is called like fm.gatt.Gatt: factory(kit, kind, kit_id, model, serial, firmware,
# hardware), and returns the link. None (the default) is Bluetooth LE (fm.gatt.Gatt), the
# kit's normal link; the device mains (stylus/main.py, grip/main.py) never name one, so a
# start script or boot.py that wants the USB cable instead sets it before main.py runs:
#
#     from fm import linkselect, seriallink
#     linkselect.factory = seriallink.SerialLink          # the USB CDC console
#
# firmware/sim/run_serial_kit.py sets a SerialLink on a pseudo-terminal this way.
factory = None
