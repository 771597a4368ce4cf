"""The Redfish service: one Flask blueprint per Redfish service, many BMCs in one app."""
