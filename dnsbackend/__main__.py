"""`python -m dnsbackend`: the same as the `dnsbackend` command."""

from .cli import main

raise SystemExit(main())
