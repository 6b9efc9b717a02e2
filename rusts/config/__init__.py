"""rusts.yml: its checked structure and loader (file.py), and the storage engine options it gives (engine.py).

Below the server and the command-line tools, so that rusts, rusts-import and rusts-export read the
file with the same loader."""
