"""The Qt user interface: thin widgets that show state and forward intent to the use cases."""
