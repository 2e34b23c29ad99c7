"""What an import run reports: per file (imported, duplicates, rejected with file[index] and why, or
skipped and why) and in total."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FileReport:
    name: str
    imported: int = 0
    duplicates: int = 0
    rejected: list[str] = field(default_factory=list)
    skipped: str | None = None  # the whole file, and why
    streak_records: int | None = None  # for streaks.json: records applied (idempotent)

    def line(self) -> str:
        if self.skipped:
            return f"{self.name}: skipped ({self.skipped})"
        if self.streak_records is not None:
            return f"{self.name}: {self.streak_records} streak records applied, rejected {len(self.rejected)}"
        return f"{self.name}: imported {self.imported}, duplicates {self.duplicates}, rejected {len(self.rejected)}"


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return all(not f.rejected and not f.skipped for f in self.files)

    def totals(self) -> tuple[int, int, int]:
        return (
            sum(f.imported for f in self.files),
            sum(f.duplicates for f in self.files),
            sum(len(f.rejected) for f in self.files),
        )
