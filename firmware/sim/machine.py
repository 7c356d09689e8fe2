# `machine` for firmware running on the simulated ESP32-S3 (MicroPython unix port): a
# `machine.py` first on sys.path replaces the built-in module. Pins, I2C, SPI, ADC and
# timers created here talk to the current world.World, so create the World first.
#
# Costs on the device clock: a GPIO operation 1 us, an ADC read 20 us, an I2C transfer
# 9 bits per byte at the bus frequency plus 40 us, an SPI transfer 8 bits per byte at the
# baud rate plus 10 us. Transfers are atomic; time passes (and other events fire) after.
# Everything a driver's read path calls here is allocation-free.
import chips.analog as _analog
import clock as _clock
import world as _world

_ENODEV = OSError(19)  # preallocated: raised from IRQ handlers under heap_lock
_I2C_OVH_US = 40
_SPI_OVH_US = 10
_ADC_US = 20


def _no(p):
    if p is None or isinstance(p, int):
        return p
    return p._s.no


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        self._w = _world.current()
        self._s = self._w.pin(_no(id))
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, *, value=None, drive=None, hold=None):
        s = self._s
        if value is not None:
            s.out = 1 if value else 0
        if mode is not None and mode != -1:
            s.mode = mode
        if pull != -1:
            s.pull = -1 if pull is None else pull
        self._w.settle(s)

    def value(self, v=None):
        s = self._s
        if v is None:
            r = s.level
            _clock._clock.sleep_us(1, False)
            return r
        s.out = 1 if v else 0
        if s.mode == 3 or s.mode == 7:
            self._w.settle(s)
        _clock._clock.sleep_us(1, False)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, *, wake=None):
        # ports/esp32/machine_pin.c machine_pin_irq: only handler, trigger and wake; the
        # handler is always soft (queued by mp_sched_schedule, see world.dispatch), so
        # `hard=` and `priority=` are unexpected keywords (TypeError) as on the device.
        s = self._s
        s.handler = handler
        s.trigger = trigger if handler is not None else 0
        s.obj = self


class I2C:
    def __init__(self, id=0, *, scl=None, sda=None, freq=400000, timeout=50000):
        w = _world.current()
        self._bus = w.bus(w.i2c, id, (_no(scl), _no(sda)))
        self._freq = freq

    def _dev(self, addr, nbytes):
        # The chip at addr, after the bus time of a transfer of nbytes; OSError if no ACK.
        _clock._clock.sleep_us(_I2C_OVH_US + nbytes * 9_000_000 // self._freq, False)
        d = self._bus[1].get(addr)
        if d is None or not d.ack:
            raise _ENODEV
        return d

    def scan(self):
        return sorted(a for a, d in self._bus[1].items() if d.ack)

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        n = len(buf)
        d = self._dev(addr, n + 3)
        d.i2c_read(memaddr, buf, n)
        d.ptr = memaddr + n

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        n = len(buf)
        d = self._dev(addr, n + 2)
        d.i2c_write(memaddr, buf, 0, n)
        d.ptr = memaddr + n

    def writeto(self, addr, buf, stop=True):
        n = len(buf)
        d = self._dev(addr, n + 1)
        if n:
            d.i2c_write(buf[0], buf, 1, n - 1)
            d.ptr = buf[0] + n - 1
        return n

    def readfrom_into(self, addr, buf, stop=True):
        n = len(buf)
        d = self._dev(addr, n + 1)
        d.i2c_read(d.ptr, buf, n)
        d.ptr += n


class SPI:
    MSB = 0
    LSB = 1
    CONTROLLER = 0

    def __init__(self, id, baudrate=1000000, *, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        self._w = _world.current()
        self._devs = list(self._w.bus(self._w.spi, id, (_no(sck), _no(mosi), _no(miso)))[1].values())
        self.baudrate = baudrate
        self.polarity = polarity
        self.phase = phase

    def init(self, baudrate=None, *, polarity=None, phase=None, bits=8, firstbit=0,
             sck=None, mosi=None, miso=None):
        if baudrate is not None:
            self.baudrate = baudrate
        if polarity is not None:
            self.polarity = polarity
        if phase is not None:
            self.phase = phase

    def _xfer(self, tx):
        devs = self._devs
        for i in range(len(devs)):
            d = devs[i]
            if self._w.pin_level(d.cs_pin) == 0:
                if d.polarity == self.polarity and d.phase == self.phase:
                    return d.spi_byte(tx)
                return (d.spi_byte((tx << 1) & 0xFF) >> 1) | 0x80  # wrong mode: bits slip
        return 0xFF  # nobody selected: MISO floats high

    def _cost(self, n):
        _clock._clock.sleep_us(_SPI_OVH_US + n * 8_000_000 // self.baudrate, False)

    def write(self, buf):
        n = len(buf)
        for i in range(n):
            self._xfer(buf[i])
        self._cost(n)

    def readinto(self, buf, write=0):
        n = len(buf)
        for i in range(n):
            buf[i] = self._xfer(write)
        self._cost(n)

    def read(self, nbytes, write=0):
        buf = bytearray(nbytes)
        self.readinto(buf, write)
        return bytes(buf)

    def write_readinto(self, write_buf, read_buf):
        n = len(write_buf)
        for i in range(n):
            read_buf[i] = self._xfer(write_buf[i])
        self._cost(n)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, *, atten=None):
        self._w = _world.current()
        self._ch = self._w.adc(_no(pin))
        if atten is not None:
            self._ch.atten = atten

    def atten(self, atten):
        self._ch.atten = atten

    def _raw(self):
        _clock._clock.sleep_us(_ADC_US, False)
        self._w.analog()
        return self._ch.raw12()

    def read_u16(self):
        return self._raw() * 65535 // 4095

    def read_uv(self):
        # Calibrated microvolts, as the ESP32 port gives them.
        return self._raw() * (_analog.ADC_FULL_MV[self._ch.atten] * 1000 // 4095)


class Timer:
    # Hardware timer: its alarm fires at exact multiples of the period on the device clock and
    # queues the callback (world.dispatch), which runs soft, stamped when it runs.
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=0, *args, **kwargs):
        self._w = _world.current()
        self.next_us = _world.NEVER
        self._cb = None
        if args or kwargs:
            self.init(*args, **kwargs)

    def init(self, *, mode=PERIODIC, period=-1, freq=-1, callback=None, tick_hz=1000, hard=False):
        # ports/esp32/machine_timer.c machine_timer_init_helper: hard=True is refused, the
        # callback is queued by mp_sched_schedule (machine_timer_handler) and runs soft.
        if hard:
            raise ValueError("hard Timers are not implemented")
        self.deinit()
        if freq > 0:
            self._num, self._den = 1_000_000, freq
        elif period > 0:
            self._num, self._den = period * 1_000_000, tick_hz
        else:
            raise ValueError("period or freq required")
        self._mode = mode
        self._cb = callback
        self._t0 = self._w.now()
        self._k = 0
        self._step()
        self._w.sources.append(self)

    def _step(self):
        self._k += 1
        c = self._w.clock
        self.next_us = self._t0 + c.to_world(self._k * self._num // self._den)

    def fire(self, t):
        if self._mode == Timer.PERIODIC:
            self._step()
        else:
            self.deinit()
        if self._cb is not None:
            self._w.dispatch(self._cb, self, t)

    def deinit(self):
        self.next_us = _world.NEVER
        if self in self._w.sources:
            self._w.sources.remove(self)


def disable_irq():
    return _world.current().irq_disable()


def enable_irq(state=0):
    _world.current().irq_enable(state)


def freq(hz=None):
    return 240_000_000 if hz is None else None


def unique_id():
    s = _world.current().seed
    return bytes((0x24, 0x0A, 0xC4, (s >> 16) & 0xFF, (s >> 8) & 0xFF, s & 0xFF))


def idle():
    _clock._clock.sleep_us(1000)


def reset():
    raise SystemExit("machine.reset()")
