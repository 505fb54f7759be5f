from armroot.cli import main

raise SystemExit(main())
