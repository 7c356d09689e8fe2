"""Transports: how the host reaches a kit (real radio, virtual radio, serial, replay)."""
