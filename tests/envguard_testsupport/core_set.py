"""The per-line set: the tests the compatibility matrix (tools/conda_matrix.py) runs on every
other conda line and on every other Python. The whole suite runs on the newest release.

A test is here when a conda line could break what it shows: a path of compat.py, or envguard
meeting conda's own commands, arguments, records and errors. Of a parametrized test, one case
per path through conda is enough; the other cases differ only in envguard's own code, which is
the same on every line. envguard's own logic (locks, stress, hostile values, retention, git,
bundles' validation) runs once, in the whole suite.

Each entry is `file::test` (every case), `file::test[case]` or a whole `file`, with what it
shows on each line. tests/conftest.py marks the entries `core`; an entry that matches no
collected test stops the session, so a renamed test never drops out of the set unnoticed.
"""

from __future__ import annotations

CORE_SET: dict[str, str] = {
    # compat.py: each function takes, on each line, the path its docstring names; a new
    # function's test joins by being in this file
    "test_compat.py": "every function of compat.py",
    # the guard: every destructive command as this line parses it
    "test_guard.py::test_protected_env_is_never_destroyed": "every guarded command and flag",
    "test_guard.py::test_base_is_always_protected": "conda's root prefix",
    "test_guard.py::test_blocked_before_any_question": "the hook runs before conda asks",
    "test_guard.py::test_unprotected_remove": "remove --all, env remove: snapshot + trash",
    "test_guard.py::test_unprotected_remove_json_output_stays_json": "conda's --json stdout",
    "test_guard.py::test_unprotected_overwrite[create-yes]": "create over an env",
    "test_guard.py::test_unprotected_overwrite[env-create-file]": "env create -f over an env",
    "test_guard.py::test_unprotected_rename": "conda rename (clone, then delete)",
    "test_guard.py::test_env_create_without_yes_does_what_conda_does_and_keeps_the_old_state": (
        "env create without --yes: replace or change, by line"
    ),
    "test_guard.py::test_env_create_reads_the_default_environment_yml": "env create's file",
    "test_guard.py::test_frozen_marker_and_override_frozen": "conda's frozen envs",
    "test_guard.py::test_pattern_in_user_condarc": "conda's configuration by file",
    "test_guard.py::test_pattern_in_variable": "conda's configuration from variables",
    "test_guard.py::test_pattern_in_system_condarc_owned_by_someone_else": "system .condarc",
    "test_guard.py::test_json_is_no_way_around_protection[env-remove]": "--json refusal",
    "test_guard.py::test_missing_env_gets_condas_own_error": "conda's own errors go through",
    "test_guard.py::test_unguarded_commands_are_untouched[info]": "other commands untouched",
    "test_guard.py::test_unguarded_command_loads_no_envguard_code": "the plugin's entry point",
    "test_guard.py::test_plugin_module_imports_nothing_heavy": "the plugin's entry point",
    # snapshots: conda's records, history, lock, and conda env create for the YAML
    "test_snapshot.py::test_environment_yml_pins_everything": "PrefixData records",
    "test_snapshot.py::test_explicit_lock_has_url_and_sha256_of_every_conda_package": "records",
    "test_snapshot.py::test_pip_txt_lists_pip_packages": "conda's pip interop",
    "test_snapshot.py::test_history_is_copied": "conda-meta/history",
    "test_snapshot.py::test_explicit_lock_recreates_the_env_offline": "conda's explicit install",
    "test_snapshot.py::test_metadata_of_a_manual_snapshot": "conda's version and platform",
    "test_snapshot.py::test_metadata_of_a_snapshot_taken_by_removal": "the trigger by line",
    "test_snapshot.py::test_no_credentials_in_the_store": "conda's channel URLs",
    "test_snapshot.py::test_no_pip_section_without_pip_packages": "conda's pip interop",
    "test_snapshot.py::test_full_disk_stops_the_command[env-remove]": "a failed hook stops conda",
    "test_snapshot.py::test_require_snapshot_false_is_a_one_shot_override": "conda settings",
    "test_snapshot.py::test_restore_from_a_private_channel_uses_the_configured_credentials"
    "[yaml-fallback]": "conda env create with a channel's credentials",
    # the trash: conda's removal, its env list and registry, its refusals
    "test_trash.py::test_remove_then_undo_gives_back_the_identical_env[env-remove]": "undo",
    "test_trash.py::test_overwritten_env_goes_to_the_trash_and_comes_back[env-create]": (
        "env create over an env, by line"
    ),
    "test_trash.py::test_trashed_envs_never_show_and_their_name_is_free": "conda env list",
    "test_trash.py::test_conda_refusing_to_remove_loses_nothing"
    "[default-activation-env-variable]": "conda 25.9+ refuses, 25.7 removes",
    "test_trash.py::test_an_env_conda_refuses_to_remove_is_left_to_conda"
    "[default-activation-env-condarc]": "the same from .condarc",
    "test_trash.py::test_a_command_that_does_not_complete_loses_nothing[rename-without-yes]": (
        "conda's question answered no, here conda rename's"
    ),
    # restore: from the trash, and by envguard's linker over conda's transaction
    "test_restore.py::test_restore_takes_the_env_from_the_trash_when_it_holds_it": "trash",
    "test_linker.py::test_a_restore_makes_the_env_conda_makes[hardlink]": "conda's linking",
    "test_linker.py::test_a_noarch_python_package_with_entry_points_restores_as_conda_makes_it": (
        "noarch python, entry points"
    ),
    "test_linker.py::test_without_a_package_cache_conda_downloads_the_packages_first": (
        "conda's download"
    ),
    "test_move.py::test_import_restore_extracts_each_package_once": (
        "compat.extract_package over the conda_package_streaming conda ships"
    ),
    "test_move.py::test_plain_conda_restores_a_bundle_with_the_two_documented_commands": (
        "how conda matches a cached archive to a lock line"
    ),
    "test_untar.py::test_the_same_tree_as_condas_extractor_each_file_summed_as_written": (
        "envguard's extractor against the one this line ships"
    ),
    # the CLI inside conda: its parser, help, JSON and exit codes
    "test_cli.py::test_envguard_help_lists_every_verb": "conda's subcommand plugin",
    "test_cli.py::test_every_verb_explains_itself": "conda's argument parser",
    "test_cli.py::test_bare_envguard_lists": "conda's subcommand plugin",
    "test_cli.py::test_list_json": "conda's --json",
    "test_cli.py::test_json_output_is_json[status]": "conda's --json",
    "test_cli.py::test_hostile_input_fails_cleanly_in_a_real_process[protect -n ../victim]": (
        "conda's error handler"
    ),
    "test_cli.py::test_status_shows_protection_and_latest_snapshot[.condarc]": "configuration",
    "test_hostile.py::test_every_verb_refuses_a_path_too_long_for_the_system": (
        "conda 25.7-26.3 crash on a -p past the system's longest path"
    ),
    # conda's error hints (26.7+) and the history conda 25.11-26.5 deletes on a rollback
    "test_history.py::test_a_rolled_back_install_leaves_no_false_state": "history by line",
    "test_history.py::test_conda_error_hint_by_prefix_and_in_json": "conda_error_hints",
    "test_history.py::test_conda_error_on_a_removed_env_points_at_undo_then_restore": "hints",
    "test_history.py::test_no_envguard_hint_for_an_env_it_never_saw": "hints",
    "test_history.py::test_doctor_without_a_snapshot": "conda doctor's health checks",
    # conda clean's own count of a package cache, beside envguard's disk figures
    "test_disk.py::test_frees_and_totals_match_du": "conda clean --all --dry-run --json",
    # two conda processes at once on one env
    "test_locks.py::test_two_removals_of_one_env_at_once_lose_nothing": "conda's removal",
}

# The newest line on the other Pythons: the same conda, so what can differ is the standard
# library under envguard and conda. These tests (marked `pythons`) cover it: compat.py,
# archives (tarfile: bundles, extraction), argument parsing and help, JSON and exit codes of
# real processes, locks and processes, paths and stat, redaction, the guard, snapshot, trash
# and restore once each.
PYTHONS_SET: frozenset[str] = frozenset(
    {
        "test_compat.py",
        "test_guard.py::test_protected_env_is_never_destroyed",
        "test_guard.py::test_unprotected_remove",
        "test_guard.py::test_unprotected_overwrite[create-yes]",
        "test_snapshot.py::test_environment_yml_pins_everything",
        "test_snapshot.py::test_explicit_lock_has_url_and_sha256_of_every_conda_package",
        "test_snapshot.py::test_pip_txt_lists_pip_packages",
        "test_snapshot.py::test_history_is_copied",
        "test_snapshot.py::test_explicit_lock_recreates_the_env_offline",
        "test_snapshot.py::test_no_credentials_in_the_store",
        "test_trash.py::test_remove_then_undo_gives_back_the_identical_env[env-remove]",
        "test_restore.py::test_restore_takes_the_env_from_the_trash_when_it_holds_it",
        "test_bundle.py::test_an_exported_bundle_restores_offline_on_another_machine",
        "test_move.py::test_import_restore_extracts_each_package_once",
        "test_move.py::test_plain_conda_restores_a_bundle_with_the_two_documented_commands",
        "test_untar.py",  # the tar members as this Python's tarfile reads them
        "test_extractors.py",  # the helper process and its pipes
        "test_cli.py::test_envguard_help_lists_every_verb",
        "test_cli.py::test_every_verb_explains_itself",
        "test_cli.py::test_json_output_is_json[status]",
        "test_cli.py::test_json_output_is_json_in_real_processes",
        "test_hostile.py::test_every_verb_refuses_a_path_too_long_for_the_system",
        "test_locks.py::test_two_removals_of_one_env_at_once_lose_nothing",
        "test_disk.py::test_frees_and_totals_match_du",
    }
)
