# The kit's GATT server: services, advertising, connection and security events.
#
# One IRQ dispatcher (aioble style). Control point and status need an encrypted link; new bonds
# are accepted only while the pairing window (opened by the kit's button) is open. Bonds are
# kept on flash in `bonds.bin` (at most _MAX_BONDS, oldest dropped first).
#
# Privacy on the air: the kit advertises from a resolvable private address (addr_mode 2) that
# the stack renews every 15 minutes, made from the kit's identity resolving key (IRK), which
# the stack keeps in the same store (secret type _SEC_OUR_IRK) and hands to each computer it
# bonds with: a bonded computer knows the kit whatever its address; nobody else can link two
# of them. The kit id and battery are advertised only while the pairing window is open.
#
# On the ESP32 the handler runs on NimBLE's task and preempts the main program anywhere; an
# exception escaping it unregisters it for good (extmod/modbluetooth.c). So the handler only
# records what happened: control requests are posted to the kit (its streaming task applies
# them and answers), and the bonds file is saved from that task (a dirty flag), never here.
import struct
import sys

import bluetooth
from micropython import const

from fm import uuids

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_READ_ENC = const(0x0200)
_F_WRITE_ENC = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)
_ADDR_MODE_RPA = const(2)
_SEC_OUR_IRK = const(10)  # the stack's own IRK (extmod/nimble/modbluetooth_nimble.c load_irk)
_ADV_INTERVAL_US = const(250000)
_MAX_BONDS = const(4)
_CONTROL_BUF = const(244)
_BONDS_FILE = "bonds.bin"


def _adv_field(kind, data):
    return bytes((len(data) + 1, kind)) + data


class Gatt:
    def __init__(self, kit, kind, kit_id, model, serial, firmware, hardware):
        self.kit = kit
        self.kind = kind
        self.kit_id = kit_id
        self.conn = None
        self.encrypted = False
        self.mtu = 23
        self.pairing_open = False
        self.paired = False  # a link was encrypted while the pairing window was open
        self._refuse = False
        self.dirty = False  # the bonds changed: the kit's task saves them
        self._auth = bytearray((0x80, 0, 0, 7))  # response | token | op | ERR_AUTH
        self.faults = 0  # events whose handling raised (caught: the handler stays registered)
        self._secrets = self._load_secrets()
        ble = bluetooth.BLE()
        self.ble = ble
        # The handler first: active(True) asks the store for the kit's IRK (without a handler
        # NimBLE falls back to one fixed IRK shared by every device).
        ble.irq(self._irq)
        ble.active(True)
        ble.config(mtu=247, bond=True, le_secure=True, mitm=False, io=_IO_NO_INPUT_OUTPUT)
        ble.config(addr_mode=_ADDR_MODE_RPA)
        fm = (
            uuids.SERVICE,
            (
                (uuids.DATA, _F_NOTIFY | _F_READ_ENC),
                (uuids.CONTROL, _F_WRITE | _F_NOTIFY | _F_WRITE_ENC),
                (uuids.STATUS, _F_READ | _F_NOTIFY | _F_READ_ENC),
            ),
        )
        # What tells one kit from another (its serial, the chip id; its battery level) is read
        # on an encrypted link only: a computer that never paired could otherwise connect and
        # link the kit's changing addresses. Model and revisions are the same on every kit.
        dis = (
            uuids.DEVICE_INFO,
            (
                (uuids.MANUFACTURER, _F_READ),
                (uuids.MODEL, _F_READ),
                (uuids.SERIAL, _F_READ | _F_READ_ENC),
                (uuids.FIRMWARE_REV, _F_READ),
                (uuids.HARDWARE_REV, _F_READ),
            ),
        )
        bas = (uuids.BATTERY, ((uuids.BATTERY_LEVEL, _F_READ | _F_NOTIFY | _F_READ_ENC),))
        ((self.h_data, self.h_control, self.h_status), dis_h, (self.h_battery,)) = (
            ble.gatts_register_services((fm, dis, bas))
        )
        ble.gatts_set_buffer(self.h_control, _CONTROL_BUF)
        for h, v in zip(dis_h, ("finemotor", model, serial, firmware, hardware)):
            ble.gatts_write(h, v)

    # --- advertising -------------------------------------------------------------------
    def advertise(self, battery_pct):
        # Pairing window open: kind, kit id, battery, pairing flag, and the name with the id
        # (the person picks the kit by its label). Closed: the service and the kind only.
        mfr = struct.pack("<HB", uuids.COMPANY_ID, uuids.KIND_CODES.get(self.kind, 0))
        resp = b""
        if self.pairing_open:
            mfr += bytes.fromhex(self.kit_id) + bytes((battery_pct, 1))
            resp = _adv_field(0x09, ("finemotor %s %s" % (self.kind, self.kit_id)).encode())
        adv = _adv_field(0x01, b"\x06") + _adv_field(0x07, uuids.SERVICE_LE) + _adv_field(0xFF, mfr)
        self.ble.gap_advertise(_ADV_INTERVAL_US, adv, resp_data=resp)

    def stop_advertising(self):
        self.ble.gap_advertise(None)  # type: ignore[arg-type]  # None stops advertising

    # --- sending -----------------------------------------------------------------------
    def notify(self, handle, data):
        # Send a notification on the current connection; False if it could not be queued
        # (no buffer in NimBLE's pool: ENOMEM; the caller may try again later).
        conn = self.conn
        if conn is None:
            return False
        try:
            self.ble.gatts_notify(conn, handle, data)  # type: ignore[call-arg]  # stub lacks conn
        except OSError:
            return False
        return True

    def set_value(self, handle, data, notify=False):
        self.ble.gatts_write(handle, data)
        if notify and self.conn is not None and self.encrypted:
            self.notify(handle, data)

    # --- events ------------------------------------------------------------------------
    def _irq(self, event, data):
        # Nothing escapes: each event's work is guarded (see the header).
        try:
            return self._event(event, data)
        except Exception as e:
            self.faults += 1
            sys.print_exception(e)
        return None

    def _event(self, event, data):
        if event == _IRQ_CENTRAL_CONNECT:
            self.conn = data[0]
            self.encrypted = False
            self.mtu = 23
            self.kit.on_connect()
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] == self.conn:
                self.conn = None
                self.encrypted = False
                self.kit.on_disconnect()
        elif event == _IRQ_GATTS_WRITE:
            conn, handle = data[0], data[1]
            if handle == self.h_control and conn == self.conn:
                data = self.ble.gatts_read(handle)
                if not self.encrypted and len(data) >= 2:
                    # Not paired: refused at once, touching no kit state, so the computer
                    # hears it before a refused pairing drops the link.
                    r = self._auth
                    r[1] = data[1]
                    r[2] = data[0]
                    self.notify(self.h_control, r)
                else:
                    self.kit.post_control(data, self.encrypted)
        elif event == _IRQ_MTU_EXCHANGED:
            self.mtu = data[1]
            self.kit.on_mtu(data[1])
        elif event == _IRQ_ENCRYPTION_UPDATE:
            conn, encrypted = data[0], data[1]
            if self._refuse:
                self._refuse = False
                self.ble.gap_disconnect(conn)
                return
            self.encrypted = bool(encrypted)
            if encrypted and self.pairing_open:
                self.paired = True  # the window's work is done: it closes
        elif event == _IRQ_GET_SECRET:
            sec_type, index, key = data
            return self._get_secret(sec_type, index, key)
        elif event == _IRQ_SET_SECRET:
            sec_type, key, value = data
            return self._set_secret(sec_type, key, value)
        elif event == _IRQ_PASSKEY_ACTION:
            # No display or keyboard: LE Secure Connections "Just Works" only.
            pass
        return None

    # --- bonds -------------------------------------------------------------------------
    def _get_secret(self, sec_type, index, key):
        if key is None:
            i = 0
            for (t, _k), v in self._secrets:
                if t == sec_type:
                    if i == index:
                        return v
                    i += 1
            return None
        key = bytes(key)
        for (t, k), v in self._secrets:
            if t == sec_type and k == key:
                return v
        return None

    def _set_secret(self, sec_type, key, value):
        key = bytes(key)
        if sec_type == _SEC_OUR_IRK:  # the kit's own key, not a bond: kept outside the window
            had = len(self._secrets)
            self._secrets = [e for e in self._secrets if e[0][0] != _SEC_OUR_IRK]
            if value is None:
                self.dirty = self.dirty or had != len(self._secrets)
                return had != len(self._secrets)
            self._secrets.append(((sec_type, key), bytes(value)))
            self.dirty = True
            return True
        known = [e for e in self._secrets if e[0] == (sec_type, key)]
        if value is None:
            # False when there was nothing to delete: NimBLE deletes until it hears that.
            if not known:
                return False
            self._secrets = [e for e in self._secrets if e[0] != (sec_type, key)]
            self.dirty = True
            return True
        if not self.pairing_open and not [e for e in self._secrets if e[0][1] == key]:
            # A new bond outside the pairing window: refuse it and drop the link.
            self._refuse = True
            return False
        self._secrets = [e for e in self._secrets if e[0] != (sec_type, key)]
        self._secrets.append(((sec_type, key), bytes(value)))
        self._evict()
        self.dirty = True
        return True

    def _evict(self):
        # NimBLE keeps two entries per bond (OUR_SEC and PEER_SEC, nimble/host/src/ble_sm.c
        # ble_sm_persist_keys): keep _MAX_BONDS peers, dropping every entry of the peer
        # written least recently.
        while True:
            peers: list = []
            for (t, k), _v in self._secrets:
                if t != _SEC_OUR_IRK and k not in peers:
                    peers.append(k)
            if len(peers) <= _MAX_BONDS:
                return
            old = peers[0]
            self._secrets = [e for e in self._secrets if e[0][1] != old]

    def save_bonds(self):
        # From the kit's task: write the bonds file if they changed.
        if self.dirty:
            self.dirty = False
            self._save_secrets()

    def clear_bonds(self):
        # Every computer forgotten; the kit's own IRK stays (the stack loaded it at power-on and
        # keeps using it: a new one in the store would not match the RPAs it makes).
        self._secrets = [e for e in self._secrets if e[0][0] == _SEC_OUR_IRK]
        self.dirty = True

    def _load_secrets(self):
        out: list = []
        try:
            with open(_BONDS_FILE, "rb") as f:
                raw = f.read()
        except OSError:
            return out
        i = 0
        while i + 3 <= len(raw):
            t, kl, vl = raw[i], raw[i + 1], raw[i + 2]
            i += 3
            if i + kl + vl > len(raw):
                break
            out.append(((t, bytes(raw[i : i + kl])), bytes(raw[i + kl : i + kl + vl])))
            i += kl + vl
        return out

    def _save_secrets(self):
        try:
            with open(_BONDS_FILE, "wb") as f:
                for (t, k), v in self._secrets:
                    f.write(bytes((t, len(k), len(v))))
                    f.write(k)
                    f.write(v)
        except OSError:
            pass
