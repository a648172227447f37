"""`Table`: one benchmark's result, rendered as a section of BENCHMARKS.md."""

import dataclasses


@dataclasses.dataclass
class Table:
    """A benchmark result.

    Attributes:
        title: the section heading.
        description: what was measured and how (markdown), including the
            setting (model, batch size, steps) and how to read the ratios.
        columns: column headings.
        rows: one list of cells per row (numbers are formatted by `to_markdown`).
        plots: `{file name: function(path)}` of figures that belong to the
            section; `scripts/benchmark.py` writes them under docs/images/ beside
            BENCHMARKS.md, where the description's links point.

    Example:
    >>> print(Table("Demo", "Two rows.", ["scheme", "ratio"], [["hard", 1.0]]).to_markdown())
    ### Demo
    <BLANKLINE>
    Two rows.
    <BLANKLINE>
    | scheme | ratio |
    | --- | --- |
    | hard | 1.00 |
    """

    title: str
    description: str
    columns: list
    rows: list
    plots: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"Table {self.title!r}: row {row} has {len(row)} cells for "
                                 f"{len(self.columns)} columns {self.columns}.")

    def to_markdown(self):
        def cell(value):
            if isinstance(value, float):
                return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
            return str(value)

        lines = [f"### {self.title}", "", self.description.strip(), "",
                 "| " + " | ".join(self.columns) + " |",
                 "| " + " | ".join("---" for _ in self.columns) + " |"]
        lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.rows]
        return "\n".join(lines)
