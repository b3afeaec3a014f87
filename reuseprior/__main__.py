from reuseprior.cli import main

raise SystemExit(main())
