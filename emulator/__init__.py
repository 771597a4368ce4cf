"""The emulated BMC cluster: many Redfish BMCs in one process, hosts on libvirt.

Start one with ``emulator.cluster.EmulatedCluster`` (see docs/emulator.md) or
``fleetflash emulator serve``. The publisher/ and usbkey/ subpackages are
separate tools that share this package's home.
"""
