"""CIM-XML indication intake: the pywbem-based listener and the update alert profile."""
