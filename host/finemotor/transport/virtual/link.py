"""The link under the virtual radio: bumble's ``LocalLink`` and controller, with range.

:class:`VirtualLink` lets a device go out of range (nothing reaches it or leaves it) and drops
its connections as a supervision timeout would. :class:`AdapterController` is the host
adapter's controller, with what bumble's virtual controller leaves out for a scanning,
connecting central.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Collection

from bumble import hci, ll
from bumble.controller import Connection as LinkConnection
from bumble.controller import Controller
from bumble.core import PhysicalTransport
from bumble.link import LocalLink

__all__ = ["LINK_LOST", "AdapterController", "VirtualLink"]

logger = logging.getLogger(__name__)

LINK_LOST = hci.HCI_ErrorCode.CONNECTION_TIMEOUT_ERROR
"""The reason both ends get when a link drops: "connection timeout"."""

_ExtReport = hci.HCI_LE_Extended_Advertising_Report_Event
_AdvProps = hci.HCI_LE_Set_Extended_Advertising_Parameters_Command.AdvertisingProperties


class VirtualLink(LocalLink):
    """A ``LocalLink`` where devices can be out of range: nothing reaches them or leaves them."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.out_of_range: set[Controller] = set()

    def _reachable(self, *controllers: Controller | None) -> bool:
        return not any(c in self.out_of_range for c in controllers if c is not None)

    def send_acl_data(
        self,
        sender_controller: Controller,
        destination_address: hci.Address,
        transport: PhysicalTransport,
        data: bytes,
    ) -> None:
        if transport == PhysicalTransport.LE:
            destination = self.find_le_controller(destination_address)
        else:
            destination = self.find_classic_controller(destination_address)
        if self._reachable(sender_controller, destination):
            super().send_acl_data(sender_controller, destination_address, transport, data)

    def send_advertising_pdu(
        self, sender_controller: Controller, packet: ll.AdvertisingPdu
    ) -> None:
        if sender_controller in self.out_of_range:
            return
        loop = asyncio.get_running_loop()
        for controller in list(self.controllers):
            if controller is not sender_controller and controller not in self.out_of_range:
                loop.call_soon(controller.on_ll_advertising_pdu, packet)

    def send_ll_control_pdu(
        self, sender_address: hci.Address, receiver_address: hci.Address, packet: ll.ControlPdu
    ) -> None:
        sender = self.find_le_controller(sender_address)
        receiver = self.find_le_controller(receiver_address)
        if receiver is None:
            logger.debug("LL %s to %s dropped: no such device", packet, receiver_address)
            return
        if self._reachable(sender, receiver):
            super().send_ll_control_pdu(sender_address, receiver_address, packet)

    def drop_connections(
        self,
        controller: Controller,
        reason: int = LINK_LOST,
        only: Collection[LinkConnection] | None = None,
    ) -> None:
        """Ends LE connections of ``controller`` on both ends, as a lost link does.

        Args:
            controller: the device whose links drop.
            reason: the HCI reason both ends get.
            only: just these of its connections (those still up); all by default.
        """
        chosen = None if only is None else {id(c) for c in only}
        for peer_address, connection in list(controller.le_connections.items()):
            if chosen is not None and id(connection) not in chosen:
                continue
            peer = self.find_le_controller(peer_address)
            controller.on_le_disconnected(connection, reason)
            if peer is not None and peer is not controller:
                peer_connection = peer.le_connections.get(connection.self_address)
                if peer_connection is not None:
                    peer.on_le_disconnected(peer_connection, reason)


class AdapterController(Controller):
    """The host adapter's controller, with the two things bumble's virtual one leaves out.

    An active scan reports the advertiser's real scan response (bumble repeats the
    advertising data instead), with the radio's RSSI for that advertiser; and cancelling a
    pending connection ends it with an "Unknown Connection Identifier" completion, as the
    specification says (bumble never completes it, so the connect call would hang).
    """

    def __init__(self, name: str, link: VirtualLink, rssi_of: Callable[[str], int]) -> None:
        super().__init__(name, link=link)
        self._rssi_of = rssi_of
        self._vlink = link
        self.active_scan = True

    def on_hci_le_set_extended_scan_parameters_command(
        self, command: hci.HCI_LE_Set_Extended_Scan_Parameters_Command
    ) -> hci.HCI_StatusReturnParameters:
        scan_types = list(command.scan_types)
        self.active_scan = bool(scan_types) and scan_types[0] == (
            hci.HCI_LE_Set_Extended_Scan_Parameters_Command.ACTIVE_SCANNING
        )
        return super().on_hci_le_set_extended_scan_parameters_command(command)

    def on_hci_le_create_connection_cancel_command(
        self, command: hci.HCI_LE_Create_Connection_Cancel_Command
    ) -> hci.HCI_StatusReturnParameters:
        pending = self.pending_le_connection
        if pending is None:
            return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.COMMAND_DISALLOWED_ERROR)
        self.pending_le_connection = None
        event = hci.HCI_LE_Connection_Complete_Event(
            status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
            connection_handle=0,
            role=hci.Role.CENTRAL,
            peer_address_type=pending.peer_address.address_type,
            peer_address=pending.peer_address,
            connection_interval=0,
            peripheral_latency=0,
            supervision_timeout=0,
            central_clock_accuracy=0,
        )
        # After the command's own completion, as a real controller orders them.
        asyncio.get_running_loop().call_soon(self.send_hci_packet, event)
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)

    def send_hci_packet(self, packet: hci.HCI_Packet) -> None:
        if isinstance(packet, _ExtReport):
            reports = [r for r in map(self._fix_report, packet.reports) if r is not None]
            if not reports:
                return
            packet = _ExtReport(reports=reports)
        super().send_hci_packet(packet)

    def _fix_report(self, report: _ExtReport.Report) -> _ExtReport.Report | None:
        rssi = self._rssi_of(report.address.to_string(False))
        if not report.event_type & _ExtReport.EventType.SCAN_RESPONSE:
            return dataclasses.replace(report, rssi=rssi)
        if not self.active_scan:
            return None
        scan_response = self._scan_response_of(report.address)
        if scan_response is None:
            return None
        return dataclasses.replace(report, rssi=rssi, data=scan_response)

    def _scan_response_of(self, address: hci.Address) -> bytes | None:
        """The scan response an active scan gets from the advertiser at ``address``."""
        for controller in self._vlink.controllers:
            legacy = controller.le_legacy_advertiser
            if legacy.enabled and legacy.address == address:
                return bytes(legacy.scan_response_data)
            for adv_set in controller.advertising_sets.values():
                if adv_set.enabled and adv_set.address == address and adv_set.parameters:
                    props = int(adv_set.parameters.advertising_event_properties)
                    if props & _AdvProps.SCANNABLE_ADVERTISING:
                        return bytes(adv_set.scan_response_data)
                    return None
        return None
