from metaai_ls.cli import main

raise SystemExit(main())
