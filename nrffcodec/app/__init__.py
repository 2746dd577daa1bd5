"""The application: the `nrff` command, file-to-file jobs, the work folder, resources and progress."""
