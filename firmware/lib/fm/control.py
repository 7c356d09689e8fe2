# Control point: decode a command, act on the kit, encode the response notification.
#
# Request:  u8 opcode | u8 token | parameters
# Response: u8 0x80 | u8 token | u8 opcode | u8 result | payload
# Every command gets exactly one response with the request's token.
import struct

from micropython import const

OP_START = const(0x01)
OP_STOP = const(0x02)
OP_SET_RATE = const(0x03)
OP_TARE = const(0x04)
OP_IDENTIFY = const(0x05)
OP_TIME_SYNC = const(0x06)
OP_BACKFILL = const(0x07)
OP_CAL_READ = const(0x08)
OP_CAL_STAGE = const(0x09)
OP_CAL_COMMIT = const(0x0A)
OP_INFO = const(0x0B)

RESPONSE = const(0x80)
OK = const(0)
ERR_OPCODE = const(1)
ERR_LENGTH = const(2)
ERR_VALUE = const(3)
ERR_STATE = const(4)
ERR_SENSOR = const(5)
ERR_STORAGE = const(6)
ERR_AUTH = const(7)

_RESP_MAX = const(244)


class Control:
    def __init__(self, kit):
        self.kit = kit
        self._buf = bytearray(_RESP_MAX)
        self._mv = memoryview(self._buf)
        self.max_payload = 16  # grows with the MTU (kit sets it)

    def handle(self, data, encrypted=True):
        # Run one command; return the response as a memoryview.
        if len(data) < 2:
            return self._reply(0, data[0] if data else 0, ERR_LENGTH, 0)
        op = data[0]
        token = data[1]
        if not encrypted:
            return self._reply(token, op, ERR_AUTH, 0)
        kit = self.kit
        n = len(data) - 2
        b = self._buf
        if op == OP_START or op == OP_STOP:
            if n:
                return self._reply(token, op, ERR_LENGTH, 0)
            if op == OP_START:
                if not kit.start():
                    return self._reply(token, op, ERR_SENSOR, 0)
            else:
                kit.stop()
            struct.pack_into("<HI", b, 4, kit.next_seq(), kit.now())
            return self._reply(token, op, OK, 6)
        if op == OP_SET_RATE:
            if n != 2:
                return self._reply(token, op, ERR_LENGTH, 0)
            rate = kit.set_rate(struct.unpack_from("<H", data, 2)[0])
            if rate <= 0:
                return self._reply(token, op, ERR_VALUE if rate == 0 else ERR_STATE, 0)
            struct.pack_into("<H", b, 4, rate)
            return self._reply(token, op, OK, 2)
        if op == OP_TARE:
            if n != 2:
                return self._reply(token, op, ERR_LENGTH, 0)
            means = kit.tare(struct.unpack_from("<H", data, 2)[0])
            if means is None:
                return self._reply(token, op, ERR_STATE, 0)
            for i, m in enumerate(means):
                struct.pack_into("<i", b, 4 + 4 * i, m)
            return self._reply(token, op, OK, 4 * len(means))
        if op == OP_IDENTIFY:
            if n != 1 or not 1 <= data[2] <= 60:
                return self._reply(token, op, ERR_VALUE, 0)
            kit.identify(data[2])
            return self._reply(token, op, OK, 0)
        if op == OP_TIME_SYNC:
            struct.pack_into("<I", b, 4, kit.now())
            return self._reply(token, op, OK, 4)
        if op == OP_BACKFILL:
            if n != 4:
                return self._reply(token, op, ERR_LENGTH, 0)
            seq, count = struct.unpack_from("<HH", data, 2)
            first, queued, gone = kit.backfill(seq, count)
            struct.pack_into("<HHH", b, 4, first, queued, gone)
            return self._reply(token, op, OK, 6)
        if op == OP_CAL_READ:
            if n != 2:
                return self._reply(token, op, ERR_LENGTH, 0)
            off = struct.unpack_from("<H", data, 2)[0]
            blob = kit.cal.blob
            if off > len(blob):
                return self._reply(token, op, ERR_VALUE, 0)
            chunk = blob[off : off + self.max_payload - 6]
            struct.pack_into("<H", b, 4, len(blob))
            b[6 : 6 + len(chunk)] = chunk
            return self._reply(token, op, OK, 2 + len(chunk))
        if op == OP_CAL_STAGE:
            if n < 3:
                return self._reply(token, op, ERR_LENGTH, 0)
            off = struct.unpack_from("<H", data, 2)[0]
            ok = kit.cal.stage_chunk(off, data[4:])
            return self._reply(token, op, OK if ok else ERR_VALUE, 0)
        if op == OP_CAL_COMMIT:
            if n != 6:
                return self._reply(token, op, ERR_LENGTH, 0)
            length, crc = struct.unpack_from("<HI", data, 2)
            try:
                reason = kit.cal.commit(length, crc)
            except OSError:
                return self._reply(token, op, ERR_STORAGE, 0)
            except Exception:  # StorageError from the store
                return self._reply(token, op, ERR_STORAGE, 0)
            if reason:
                enc = reason.encode()[: self.max_payload - 4]
                b[4 : 4 + len(enc)] = enc
                return self._reply(token, op, ERR_VALUE, len(enc))
            return self._reply(token, op, OK, 0)
        if op == OP_INFO:
            layout, rate, capacity, channels = kit.info()
            struct.pack_into("<BHHB", b, 4, layout, rate, capacity, channels)
            return self._reply(token, op, OK, 6)
        return self._reply(token, op, ERR_OPCODE, 0)

    def error(self, data):
        # The response to a request whose handling failed unexpectedly.
        if len(data) < 2:
            return self._reply(0, 0, ERR_LENGTH, 0)
        return self._reply(data[1], data[0], ERR_STATE, 0)

    def _reply(self, token, op, result, payload_len):
        b = self._buf
        b[0] = RESPONSE
        b[1] = token
        b[2] = op
        b[3] = result
        return self._mv[: 4 + payload_len]
