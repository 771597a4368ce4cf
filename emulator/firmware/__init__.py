"""What a BMC does with an update image: read, verify, apply per model, reboot, report."""
