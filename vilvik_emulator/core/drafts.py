"""From a validated create body to a draft ready to store: what a run will be (contract §5, §5.4, §5.5, §7).

The schema has already checked every field's type and range (:mod:`vilvik_emulator.schemas`).
What is left needs the source code or several fields at once: code uploads resolved,
sources compiled and their entries found, a quick type's inputs turned into its fitness
code and genome, the GA parameters completed with their defaults and put through
PyGAD's own constructor checks. Nothing here writes anything: a rejected body costs
nothing (contract §5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ..errors import FieldErrors
from ..runner.params import CODE_ROLES
from ..schemas.meta import SubmissionMeta
from ..schemas.submissions import NewSubmission, SubmissionOverrides
from .code import CodeProblem, check_code_field, compile_source
from .parameters import complete_parameters, pygad_check
from .quick_types import QUICK_TYPES
from .records import AccountRecord, SubmissionRecord

#: what re-execute and continue keep from the parent whatever the body says (the genome's shape)
FIXED_SHAPE = ("num_genes", "gene_type", "custom_gene_type")
META_FIELDS = tuple(SubmissionMeta.model_fields)


class SourceLookup(Protocol):
    """Where ``<role>_id`` references are resolved (the code upload service)."""

    def source_for(self, account: AccountRecord, field: str, code_id: str) -> str: ...


@dataclass
class Draft:
    """A validated submission, ready to be stored and dispatched."""

    meta: dict[str, Any]
    submission_type: str
    parameters: dict[str, Any]
    code: dict[str, str]
    generated: dict[str, Any] = field(default_factory=dict)
    quick_inputs: dict[str, Any] = field(default_factory=dict)


def meta_of(body: SubmissionMeta) -> dict[str, Any]:
    return {name: getattr(body, name) for name in META_FIELDS}


class DraftBuilder:
    def __init__(self, uploads: SourceLookup) -> None:
        self.uploads = uploads

    # ------------------------------------------------------------------ create

    def from_create(self, account: AccountRecord, body: Any) -> Draft:
        """A draft from a create body (``NewSubmission`` or a quick type's model)."""
        errors = FieldErrors()
        if isinstance(body, NewSubmission):
            code = self.code_fields(account, body, {}, errors)
            given, defaults, generated, inputs = body.ga_given(), None, {}, {}
        else:
            quick = QUICK_TYPES[body.submission_type].build(body, errors)
            errors.raise_if_any()
            assert quick is not None
            given = {name: value for name, value in body.ga_given().items() if name != "num_genes"}
            given.update(quick.fixed)
            code, defaults, generated, inputs = dict(quick.code), quick.defaults, quick.generated, quick.inputs
        parameters = complete_parameters(given, errors, defaults=defaults)
        errors.raise_if_any()
        self.pygad_rules(parameters, code, errors)
        return Draft(meta_of(body), body.submission_type, parameters, code, generated, inputs)

    # ------------------------------------------------------------------ re-execute and continue

    def from_parent(self, account: AccountRecord, parent: SubmissionRecord, body: SubmissionOverrides,
                    *, verb: str) -> Draft:
        """The parent's parameters and code with the body's overrides (``verb``: re-executing or continuing)."""
        errors = FieldErrors()
        given = body.ga_given()
        # an "import" type is what older databases called an imported run: its children are "new"
        kind = "new" if parent.submission_type == "import" else parent.submission_type
        if body.submission_type is not None and body.submission_type != kind:
            errors.add("submission_type", f"cannot change when {verb} a run: it stays {kind!r} "
                                          "(create a new submission for another type)")
        for name in FIXED_SHAPE:
            if name in given and given[name] != parent.parameters.get(name):
                errors.add(name, f"cannot change when {verb} a run (the genome's shape is the parent's)")
        quick = parent.submission_type in QUICK_TYPES
        if quick:
            for role in CODE_ROLES:
                if getattr(body, role) is not None or getattr(body, f"{role}_id") is not None:
                    errors.add(role if role == "fitness_func" or getattr(body, role) is not None else f"{role}_id",
                               f"cannot change: {parent.submission_type} brings its own code")
            if "initial_population" in given:
                errors.add("initial_population", "cannot be set for a quick type")
        errors.raise_if_any()
        meta = {name: getattr(parent, name) for name in META_FIELDS}
        meta.update(body.meta_given())
        parameters = {name: value for name, value in parent.parameters.items()}
        parameters.update({name: value for name, value in given.items() if name not in FIXED_SHAPE})
        size = parameters.get("sol_per_pop")
        if ("sol_per_pop" in given and "num_parents_mating" not in given and isinstance(size, int)
                and isinstance(parameters.get("num_parents_mating"), int) and parameters["num_parents_mating"] > size):
            parameters["num_parents_mating"] = max(2, size // 2)
        parameters = complete_parameters(parameters, errors)
        code = parent.code if quick else self.code_fields(account, body, parent.code, errors)
        errors.raise_if_any()
        self.pygad_rules(parameters, code, errors)
        return Draft(meta, kind, parameters, code, {}, dict(parent.quick_inputs))

    # ------------------------------------------------------------------ code

    def code_fields(self, account: AccountRecord, body: Any, inherited: dict[str, str],
                    errors: FieldErrors) -> dict[str, str]:
        """Every code field of the body (sources, or uploads resolved), over ``inherited`` ones.

        A source is compiled before its entry is asked for: the SDK fills in the entry
        from the source, and finds none in code that does not parse, so the compile
        error is the one that helps.
        """
        code = dict(inherited)
        for role in CODE_ROLES:
            source, upload, entry = getattr(body, role), getattr(body, f"{role}_id"), getattr(body, f"{role}_entry")
            if source is None and upload is None:
                continue
            if upload is not None:
                try:
                    source = self.uploads.source_for(account, f"{role}_id", upload)
                except CodeProblem as problem:
                    errors.add(problem.field, problem.message)
                    continue
            if entry is None:
                try:
                    compile_source(role, source)
                except CodeProblem as problem:
                    errors.add(problem.field, problem.message)
                    continue
                errors.add(f"{role}_entry", f"is required when {role} is sent (the top-level name the runtime calls)")
                continue
            for key in (role, f"{role}_id", f"{role}_entry"):
                code.pop(key, None)
            code[role] = source
            code[f"{role}_entry"] = entry
            if upload is not None:
                code[f"{role}_id"] = upload
        if "fitness_func" not in code and not any(item["field"].startswith("fitness_func") for item in errors.details):
            errors.add("fitness_func", "is required (Python source, or fitness_func_id of a code upload)")
        return code

    @staticmethod
    def placeholders(code: dict[str, str], errors: FieldErrors) -> dict[str, Any]:
        """Stand-ins with the entries' exact signatures, so PyGAD's checks run without running user code."""
        placeholders: dict[str, Any] = {}
        for role in CODE_ROLES:
            if role not in code:
                continue
            try:
                placeholder = check_code_field(role, code[role], code[f"{role}_entry"])
            except CodeProblem as problem:
                errors.add(problem.field, problem.message)
                continue
            if placeholder is not None:
                placeholders[role] = placeholder
        return placeholders

    def pygad_rules(self, parameters: dict[str, Any], code: dict[str, str], errors: FieldErrors) -> None:
        """The code's entries exist with usable signatures, and PyGAD's constructor accepts the whole run.

        The verdict depends on the parameters and the code alone, so it is remembered for
        recent pairs: the same run created again (a test suite, a benchmark, a retry under a
        new key) skips the compile and PyGAD's constructor, about a third of a create."""
        errors.raise_if_any()
        key = _verdict_key(parameters, code)
        verdict = _VERDICTS.get(key) if key is not None else None
        if verdict is None:
            found = FieldErrors()
            placeholders = self.placeholders(code, found)
            if not found:
                pygad_check(parameters, placeholders, found)
            verdict = tuple(found.details)
            if key is not None:
                if len(_VERDICTS) >= VERDICTS_KEPT:
                    _VERDICTS.clear()
                _VERDICTS[key] = verdict
        for detail in verdict:  # through add(): an import's errors rename fields as they are added
            errors.add(detail["field"], detail["message"])
        errors.raise_if_any()


#: how many (parameters, code) verdicts are remembered, and the largest key worth keeping
VERDICTS_KEPT = 256
VERDICT_KEY_LIMIT = 64 * 1024
_VERDICTS: dict[str, tuple[dict[str, str], ...]] = {}


def _verdict_key(parameters: dict[str, Any], code: dict[str, str]) -> str | None:
    """An exact key (``repr`` tells a tuple from a list and 1 from 1.0), or None when too large."""
    if sum(len(source) for source in code.values()) > VERDICT_KEY_LIMIT:
        return None
    key = repr((sorted(parameters.items()), sorted(code.items())))
    return key if len(key) <= VERDICT_KEY_LIMIT else None

