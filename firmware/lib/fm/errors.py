# Firmware exceptions. Raised at set-up time only, never from the sampling path.


class SensorFault(Exception):
    # A sensor chip did not answer, or answered out of its specification.
    pass


class StorageError(Exception):
    # Flash storage (calibration, kit id) could not be read or written.
    pass
