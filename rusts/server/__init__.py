"""Configuration, command line and the wiring that assembles the parts."""
