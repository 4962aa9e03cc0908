"""An example backend plugin pack: an HTTP "echo" service and the backend that speaks to it."""
