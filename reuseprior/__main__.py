from reuseprior.commands import main

raise SystemExit(main())
