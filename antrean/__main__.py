from antrean.runtime.serve import quiet_foreign_warnings

quiet_foreign_warnings()  # before the dependencies are imported: a start shows Antrean's output only

from antrean.cli import main  # noqa: E402

raise SystemExit(main())
