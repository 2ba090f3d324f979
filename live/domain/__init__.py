"""Pure rules of the room: no I/O, no clock of their own (time is passed in)."""
