"""Video files in and out (PyAV), and the safety rules every output follows."""
