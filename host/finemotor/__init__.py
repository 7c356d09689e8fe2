"""finemotor: host library for the fine-motor sensor kit (stylus and grip dynamometer).

Units inside the library: newtons, seconds, hertz. Kilograms-force appear only at display
for grip strength, because clinical norms use them.
"""

from finemotor.errors import FinemotorError

__all__ = ["FinemotorError", "__version__"]
__version__ = "0.1.0"
