"""Rules: YAML files (``carc.yaml``, ``rarc.yaml``, ``payers.yaml``, ``triage.yaml``,
``routing.yaml``) loaded with ``yaml.safe_load`` into pydantic models that forbid unknown keys.

The packaged rules load first; a user's rules directory overrides them — ``carc.yaml`` and
``rarc.yaml`` code by code, the other files whole. Every problem is reported with the file,
the line and the field, and invalid rules never load.
"""

from __future__ import annotations

import re
from collections.abc import ItemsView
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import RulesError
from .settings import packaged_rules_dir, safe_load
from .vocabulary import GROUP_CODES, GROUPS, Category

# The words a rule may use (pydantic checks them as Literal types; tests/test_startup.py
# checks they are vocabulary's words).
CategoryWord = Literal[
    "administrative",
    "technical",
    "clinical",
    "contractual",
    "patient_responsibility",
    "other",
    "uncategorized",
]
FILES = ("carc.yaml", "rarc.yaml", "payers.yaml", "triage.yaml", "routing.yaml")


# The next step for a denial. Each has its own deadline rule (payers.yaml, ``payers.py``):
#   appeal            ask the payer to change its decision, level by level
#   resubmit          send a corrected or new claim (coding/data defects; Medicare MA130 has no
#                     appeal rights, 42 CFR 424.44 timely filing applies)
#   reopen            ask for a reopening (Medicare clerical errors, duplicates: 42 CFR 405.980)
#   bill_other_payer  coordination of benefits / wrong payer: bill the payer responsible
#   bill_patient      the patient's responsibility (non-covered with a signed ABN, PR-96/204)
#   review            a person has to look (zero allowed with nothing paid)
#   none              no appeal rights (Medicare CO-29, statutory exclusion): write off
Action = Literal[
    "appeal", "resubmit", "reopen", "bill_other_payer", "bill_patient", "review", "none"
]

PayerClass = Literal[
    "medicare",
    "medicare_advantage",
    "medicaid",
    "medicaid_managed",
    "tricare",
    "va",
    "workers_comp",
    "auto",
    "commercial",
]
PAYER_CLASSES: tuple[str, ...] = get_args(PayerClass)
# Modifiers that say the patient signed an advance notice (ABN): GA required, GX voluntary.
ABN_MODIFIERS = ("GA", "GX")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Override(_Strict):
    category: CategoryWord | None = None
    likelihood: float | None = Field(None, ge=0, le=1)
    template: str | None = None
    prevention: str | None = None
    action: Action | None = None
    note: str | None = None  # what the action means here ("bill the patient if liable")
    with_abn: Action | None = None  # the action when the line has GA/GX or remark M38


class CarcRule(_Strict):
    category: CategoryWord
    description: str
    active: bool = True
    likelihood: float = Field(0.4, ge=0, le=1)
    template: str | None = None
    prevention: str = ""
    action: Action = "appeal"
    note: str = ""
    # The action when the line carries an advance-notice modifier (GA/GX) or the remark M38:
    # PR-50 with a signed ABN is the patient's to pay.
    with_abn: Action | None = None
    rarc_decides: bool = False
    groups: dict[str, Override] = {}
    rarc: dict[str, Override] = {}

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: dict[str, Override]) -> dict[str, Override]:
        for g in v:
            if g not in GROUPS:
                raise ValueError(f"unknown group code {g!r} ({', '.join(GROUP_CODES)})")
        return v


class CarcFile(_Strict):
    codes: dict[str, CarcRule]


RARC_RANK = {"administrative": 30, "clinical": 20, "technical": 10, "contractual": 5, "info": 0}


class RarcRule(_Strict):
    category: Literal["administrative", "technical", "clinical", "contractual", "info"]
    description: str
    action: Action | None = None  # a remark that changes the remedy whatever the CARC
    # Which remark decides when several are present: the highest rank; by default from the
    # category (administrative 30 > clinical 20 > technical 10 > contractual 5 > info 0), so
    # an authorization remark (N54) decides over a generic coding one (M51) in any order.
    rank: int | None = Field(None, ge=0, le=1000)

    @property
    def weight(self) -> int:
        return self.rank if self.rank is not None else RARC_RANK[self.category]


class RarcFile(_Strict):
    codes: dict[str, RarcRule]


def _regex(v: str | list[str]) -> str:
    text = "|".join(v) if isinstance(v, list) else v
    try:
        re.compile(text)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return text


class Level(_Strict):
    """One appeal level: its window from the notice, how long the payer takes to decide."""

    name: str
    title: str
    decided_by: str = ""
    window_days: int = Field(ge=1, le=3650)
    receipt_days: int | None = Field(None, ge=0, le=60)
    decision_days: int = Field(60, ge=1, le=3650)
    min_amount: Decimal | None = Field(None, ge=0)  # amount in controversy (Medicare ALJ)
    source: str = ""


class Appeals(_Strict):
    """Where appeals go, when not to the 835's payer address."""

    attention: str = ""
    address: str = ""
    fax: str = ""
    portal: str = ""


class ClassRule(_Strict):
    label: str
    receipt_days: int = Field(0, ge=0, le=60)
    timely_filing_days: int | None = Field(None, ge=1, le=3650)
    timely_filing_months: int | None = Field(None, ge=1, le=120)
    timely_filing_source: str = ""
    reopen_days: int = Field(365, ge=1, le=3650)
    reopen_source: str = ""
    review_days: int = Field(14, ge=1, le=365)
    member_id_label: str = "Member ID"
    levels: list[Level] = Field(min_length=1)
    actions: dict[str, Action] = {}  # CARC -> action for this class (Medicare CO-29: none)

    @model_validator(mode="after")
    def _filing(self) -> ClassRule:
        if (self.timely_filing_days is None) == (self.timely_filing_months is None):
            raise ValueError("set exactly one of timely_filing_days and timely_filing_months")
        return self


class PayerRule(_Strict):
    """A payer of yours: overrides its class's settings, or forces its class."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str
    payer_ids: list[str] = []
    name_pattern: str | None = None
    filing_indicators: list[str] = []
    payer_class: PayerClass | None = Field(None, alias="class")
    classes: list[PayerClass] = []
    receipt_days: int | None = Field(None, ge=0, le=60)
    window_days: int | None = Field(None, ge=1, le=3650)
    timely_filing_days: int | None = Field(None, ge=1, le=3650)
    timely_filing_months: int | None = Field(None, ge=1, le=120)
    reopen_days: int | None = Field(None, ge=1, le=3650)
    review_days: int | None = Field(None, ge=1, le=365)
    levels: list[Level] | None = Field(None, min_length=1)
    actions: dict[str, Action] = {}
    appeals: Appeals | None = None

    @field_validator("name_pattern")
    @classmethod
    def _pattern(cls, v: str | None) -> str | None:
        return None if v is None else _regex(v)

    def matches(self, payer_ids: list[str], payer_name: str, filing_indicator: str) -> bool:
        if any(i and i in self.payer_ids for i in payer_ids):
            return True
        if self.name_pattern and re.search(self.name_pattern, payer_name, re.IGNORECASE):
            return True
        return bool(filing_indicator) and filing_indicator in self.filing_indicators


class NamePattern(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    payer_class: PayerClass = Field(alias="class")
    pattern: str
    over: list[PayerClass] = []  # classes from CLP06 this name may refine

    @field_validator("pattern", mode="before")
    @classmethod
    def _pattern(cls, v: Any) -> Any:
        return _regex(v) if isinstance(v, str | list) else v


class PayersFile(_Strict):
    filing_indicators: dict[str, PayerClass]
    payer_ids: dict[str, PayerClass] = {}
    names: list[NamePattern] = []
    other_payer_timely_filing_days: int = Field(90, ge=1, le=3650)
    classes: dict[PayerClass, ClassRule]
    payers: list[PayerRule] = []

    @field_validator("classes")
    @classmethod
    def _all_classes(cls, v: dict[str, ClassRule]) -> dict[str, ClassRule]:
        missing = [c for c in PAYER_CLASSES if c not in v]
        if missing:
            raise ValueError(f"missing payer classes: {', '.join(missing)}")
        return v


class Weights(_Strict):
    value: float = Field(ge=0)
    likelihood: float = Field(ge=0)
    urgency: float = Field(ge=0)
    strategic: float = Field(ge=0)


class Tiers(_Strict):
    high: float = Field(ge=0, le=1)
    standard: float = Field(ge=0, le=1)
    high_amount: float = Field(5000, ge=0)
    high_min_amount: float = Field(1000, ge=0)
    low_amount: float = Field(100, ge=0)


class Strategic(_Strict):
    min_count: int = Field(ge=1)
    window_days: int = Field(ge=1)
    min_tier: Literal["high", "standard", "low"] = "standard"


class PatternFlags(_Strict):
    """When the patterns report flags a payer x procedure x reason (and a provider)."""

    min_count: int = Field(default=5, ge=1)
    min_rate: float = Field(default=0.10, ge=0, le=1)
    min_amount: float = Field(default=1000, ge=0)
    provider_factor: float = Field(default=1.5, ge=1)
    provider_min_lines: int = Field(default=20, ge=1)
    # A pattern that clears the thresholds is flagged only when its count is unlikely by chance
    # at the payer's overall line denial rate (one-sided binomial p-value below `alpha`), or
    # when it is among the `top_n` patterns by dollars denied.
    alpha: float = Field(default=0.01, gt=0, lt=1)
    top_n: int = Field(default=3, ge=0)


class Roi(_Strict):
    """What an appeal costs: staff minutes per appeal at an hourly rate."""

    minutes_per_appeal: float = Field(default=45, ge=0)
    hourly_rate: Decimal = Field(default=Decimal("35.00"), ge=0)


class Scrub(_Strict):
    """When ``denialkit scrub`` flags a line of a claim about to be submitted (triage.yaml
    ``scrub:``). Risks are 0-1; a flag needs ``min_denied`` denials of its kind in the history
    and, for the rate rules, a denial rate of at least ``min_rate`` over ``min_lines``."""

    history_days: int = Field(default=365, ge=30, le=3650)  # history read: dates of service
    min_lines: int = Field(default=5, ge=1)
    min_denied: int = Field(default=3, ge=1)
    min_rate: float = Field(default=0.30, ge=0, le=1)
    high: float = Field(default=0.60, ge=0, le=1)  # risk at or above: tier high
    standard: float = Field(default=0.30, ge=0, le=1)  # below: not flagged
    modifier_share: float = Field(default=0.80, gt=0, le=1)
    eligibility_min_denied: int = Field(default=1, ge=1)
    timely_filing_warn_days: int = Field(default=14, ge=0, le=365)
    authorization_carcs: list[str] = ["15", "197", "198", "284"]
    authorization_remarks: list[str] = ["N54", "M62"]
    medical_necessity_carcs: list[str] = ["50", "11", "167"]
    eligibility_carcs: list[str] = ["27", "31", "B7"]
    duplicate_carcs: list[str] = ["18"]

    @model_validator(mode="after")
    def _order(self) -> Scrub:
        if self.standard > self.high:
            raise ValueError("standard must not be above high")
        return self


class TriageFile(_Strict):
    weights: Weights
    value_cap: float = Field(gt=0)
    urgent_days: int = Field(ge=0)
    horizon_days: int = Field(ge=1)
    prior_weight: float = Field(ge=0)
    tiers: Tiers
    strategic: Strategic
    patterns: PatternFlags = PatternFlags()
    roi: Roi = Roi()
    scrub: Scrub = Scrub()


class RoutingFile(_Strict):
    categories: dict[str, str]
    teams: dict[str, list[str]]

    @field_validator("categories")
    @classmethod
    def _categories(cls, v: dict[str, str]) -> dict[str, str]:
        for c in v:
            if c not in Category.ALL:
                raise ValueError(f"unknown category {c!r}")
        return v


_MODELS: dict[str, type[BaseModel]] = {
    "carc.yaml": CarcFile,
    "rarc.yaml": RarcFile,
    "payers.yaml": PayersFile,
    "triage.yaml": TriageFile,
    "routing.yaml": RoutingFile,
}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Resolved:
    """What the rules say about one adjustment (group + CARC, with the claim's remarks)."""

    category: str
    likelihood: float
    template: str
    prevention: str
    description: str
    action: str = "appeal"
    note: str = ""

    @property
    def is_denial(self) -> bool:
        return self.category in Category.ALL


ABN_REMARKS = ("M38",)  # "patient liable: signed advance notice"


class Rules:
    """The validated rule set. Build with ``load_rules``."""

    def __init__(
        self,
        carc: CarcFile,
        rarc: RarcFile,
        payers: PayersFile,
        triage: TriageFile,
        routing: RoutingFile,
        sources: list[str],
    ) -> None:
        self.carc = carc.codes
        self.rarc = rarc.codes
        self.payers = payers
        self.triage = triage
        self.routing = routing
        self.sources = sources
        self._cache: dict[tuple[str, str, tuple[str, ...], bool], Resolved] = {}
        self._plain: dict[tuple[str, str], bool] = {}
        self.policies: dict[tuple[tuple[str, ...], str, str], Any] = {}  # payers.policy()

    def never_denial(self, group: str, carc: str) -> bool:
        """True when this group + CARC is not a denial whatever the remark codes say: intake
        skips most adjustments (CO-45, PR-2 ...) without looking at remarks."""
        key = (group, carc)
        hit = self._plain.get(key)
        if hit is None:
            rule = self.carc.get(carc)
            hit = (
                rule is not None
                and not rule.rarc_decides
                and not rule.rarc
                and not self._resolve(group, carc, (), False).is_denial
            )
            self._plain[key] = hit
        return hit

    def resolve(
        self,
        group: str,
        carc: str,
        remarks: tuple[str, ...] = (),
        modifiers: tuple[str, ...] | list[str] = (),
    ) -> Resolved:
        abn = any(m in ABN_MODIFIERS for m in modifiers) or any(r in ABN_REMARKS for r in remarks)
        key = (group, carc, remarks, abn)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = self._resolve(group, carc, remarks, abn)
        return hit

    def ranked(self, remarks: tuple[str, ...]) -> list[str]:
        """Remarks most specific first (rank, then the order the payer sent them)."""
        known = [r for r in remarks if r in self.rarc]
        return sorted(known, key=lambda r: -self.rarc[r].weight)

    def _resolve(self, group: str, carc: str, remarks: tuple[str, ...], abn: bool) -> Resolved:
        rule = self.carc.get(carc)
        if rule is None:
            return Resolved(
                Category.UNCATEGORIZED,
                0.3,
                Category.UNCATEGORIZED,
                "Unknown reason code: add it to carc.yaml.",
                "unknown reason code",
            )
        ranked = self.ranked(remarks)
        category: str = rule.category
        likelihood = rule.likelihood
        template = rule.template or category
        prevention = rule.prevention
        # A generic CARC (A1, 16, 96 ...): the most specific remark with a denial category
        # decides.
        if rule.rarc_decides:
            hint = next(
                (
                    self.rarc[r].category
                    for r in ranked
                    if self.rarc[r].category in Category.DENIALS
                ),
                None,
            )
            if hint is not None:
                category = hint
            elif carc == "A1":
                category = Category.UNCATEGORIZED
        # Precedence, least to most specific: the CARC, its group override, the most specific
        # remark the CARC names, a remark that carries an action (MA130).
        overrides = [rule.groups[group]] if group in rule.groups else []
        by_rank = [r for r in ranked if r in rule.rarc]
        by_rank += [r for r in remarks if r in rule.rarc and r not in by_rank]
        overrides += [rule.rarc[r] for r in by_rank][:1]
        action, note, with_abn = rule.action, rule.note, rule.with_abn
        for o in overrides:
            category = o.category or category
            likelihood = o.likelihood if o.likelihood is not None else likelihood
            template = o.template or template
            prevention = o.prevention or prevention
            if o.action:
                action, note = o.action, o.note or ""
            elif o.note:
                note = o.note
            with_abn = o.with_abn or with_abn
        remark_action = next((self.rarc[r].action for r in ranked if self.rarc[r].action), None)
        if remark_action:
            action = remark_action
        elif abn and with_abn:
            action, note = with_abn, "the patient signed an advance notice (ABN)"
        if category in Category.DENIALS and template in Category.NON_DENIAL:
            template = category
        return Resolved(category, likelihood, template, prevention, rule.description, action, note)

    def carc_description(self, code: str) -> str:
        rule = self.carc.get(code)
        return rule.description if rule else "unknown reason code"

    def rarc_description(self, code: str) -> str:
        rule = self.rarc.get(code)
        return rule.description if rule else ""

    def team_for(self, category: str) -> str | None:
        return self.routing.categories.get(category)


# --------------------------------------------------------------------------- loading


class _Lines:
    """A YAML document's key-path → line map, built only when an error needs a line."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._index: dict[tuple[str, ...], int] | None = None

    def _get(self) -> dict[tuple[str, ...], int]:
        if self._index is None:
            self._index = _line_index(self.text)
        return self._index

    def get(self, key: tuple[str, ...], default: int | None = None) -> int | None:
        return self._get().get(key, default)

    def items(self) -> ItemsView[tuple[str, ...], int]:
        return self._get().items()


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path in a YAML document to its 1-based line (for error messages)."""
    index: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return index

    def walk(node: Any, path: tuple[str, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                index[(*path, str(k.value))] = k.start_mark.line + 1
                walk(v, (*path, str(k.value)))
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, str(i)))

    if root is not None:
        walk(root, ())
    return index


def _read(path: Path, problems: list[Problem]) -> tuple[Any, _Lines | dict[tuple[str, ...], int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.append(Problem(str(path), None, "", f"cannot read: {exc.strerror}"))
        return None, {}
    try:
        data = safe_load(text)  # yaml.safe_load, with libyaml when available
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(
            Problem(
                str(path),
                mark.line + 1 if mark else None,
                "",
                f"not valid YAML: {getattr(exc, 'problem', exc)}",
            )
        )
        return None, {}
    if not isinstance(data, dict):
        problems.append(Problem(str(path), 1, "", "must be a mapping of keys to values"))
        return None, {}
    return data, _Lines(text)


def _validate(
    name: str,
    data: dict[str, Any],
    files: list[tuple[Path, Any]],
    problems: list[Problem],
) -> BaseModel | None:
    try:
        return _MODELS[name].model_validate(data)
    except ValidationError as exc:
        # Which file and line each key came from (the user's file wins for merged codes).
        lines: dict[tuple[str, ...], tuple[Path, int]] = {}
        where: dict[tuple[str, ...], Path] = {}
        for file, index in files:
            for path, line in index.items():
                lines[path] = (file, line)
                where[path[:2]] = file
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            # The deepest known path gives the line; for merged files, the file it came from.
            file, line = where.get(loc[:2], where.get((), Path(name))), None
            for n in range(len(loc), -1, -1):
                if loc[:n] in lines:
                    file, line = lines[loc[:n]]
                    break
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key (misspelled?)"
            problems.append(Problem(str(file), line, ".".join(loc), msg))
        return None


def check_rules(
    user_dir: str | Path | None = None, packaged_dir: str | Path | None = None
) -> tuple[Rules | None, list[Problem]]:
    """Load and validate; returns the rules (None when invalid) and every problem found."""
    base = Path(packaged_dir) if packaged_dir else packaged_rules_dir()
    user = Path(user_dir) if user_dir else None
    if user is not None and not user.is_dir():
        return None, [Problem(str(user), None, "", "rules directory does not exist")]
    problems = _unknown_files(user)
    models: dict[str, BaseModel] = {}
    sources: list[str] = []
    for name in FILES:
        merged, files = _merged(name, (base, user), problems, sources)
        if not merged:
            if not any(p.file.endswith(name) for p in problems):
                problems.append(Problem(str(base / name), None, "", "rules file is missing"))
            continue
        model = _validate(name, merged, files, problems)
        if model is not None:
            models[name] = model
    if problems:
        return None, problems
    rules = Rules(
        _model(models, "carc.yaml", CarcFile),
        _model(models, "rarc.yaml", RarcFile),
        _model(models, "payers.yaml", PayersFile),
        _model(models, "triage.yaml", TriageFile),
        _model(models, "routing.yaml", RoutingFile),
        sources,
    )
    problems = [
        Problem(
            sources[-1], None, f"categories.{category}", f"team {team!r} is not defined under teams"
        )
        for category, team in rules.routing.categories.items()
        if team not in rules.routing.teams
    ]
    return (None, problems) if problems else (rules, [])


M = TypeVar("M", bound=BaseModel)


def _model(models: dict[str, BaseModel], name: str, kind: type[M]) -> M:
    model = models[name]
    assert isinstance(model, kind), name  # _MODELS[name] made it
    return model


def _unknown_files(user: Path | None) -> list[Problem]:
    """The user's YAML files that are not rules files (a misspelled name would be ignored)."""
    if user is None:
        return []
    expected = f"unknown rules file (expected one of {', '.join(FILES)})"
    return [
        Problem(str(extra), None, "", expected)
        for extra in sorted(user.glob("*.y*ml"))
        if extra.name not in FILES
    ]


def _merged(
    name: str,
    folders: tuple[Path, Path | None],
    problems: list[Problem],
    sources: list[str],
) -> tuple[dict[str, Any], list[tuple[Path, Any]]]:
    """One rules file, the packaged one with the user's on top, and where each came from."""
    merged: dict[str, Any] = {}
    files: list[tuple[Path, Any]] = []
    for folder in folders:
        if folder is None or not (folder / name).exists():
            continue
        data, index = _read(folder / name, problems)
        if data is None:
            continue
        sources.append(str(folder / name))
        if name in ("carc.yaml", "rarc.yaml") and merged:
            # Code-by-code override: the user's entry replaces the packaged one.
            codes = data.get("codes")
            if not isinstance(codes, dict):
                problems.append(
                    Problem(
                        str(folder / name),
                        index.get(("codes",), 1),
                        "codes",
                        "must be a mapping of code to rule",
                    )
                )
                continue
            merged["codes"] = {**merged.get("codes", {}), **{str(k): v for k, v in codes.items()}}
            merged.update({k: v for k, v in data.items() if k != "codes"})
        else:
            merged = dict(data)
            if name in ("carc.yaml", "rarc.yaml") and isinstance(merged.get("codes"), dict):
                merged["codes"] = {str(k): v for k, v in merged["codes"].items()}
            files = []
        files.append((folder / name, index))
    return merged, files


def load_rules(user_dir: str | Path | None = None, packaged_dir: str | Path | None = None) -> Rules:
    """Load the rules or raise ``RulesError`` listing every problem."""
    rules, problems = check_rules(user_dir, packaged_dir)
    if rules is None:
        detail = "\n  ".join(str(p) for p in problems)
        raise RulesError(
            f"invalid rules ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}):\n  {detail}"
        )
    return rules
