from maildesk.deliver import main

raise SystemExit(main())
