"""Shared test setup: numba cache location, paths to the real datasets, a CLI helper."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

# The signal tests send SIGHUP and SIGINT to embedcli and expect exit 129 and 130. embedcli keeps
# a signal it inherits as ignored ignored (`nohup embedcli train ...` must survive a hangup, and a
# shell starts a background job `cmd &` without job control with SIGINT ignored), so a suite run
# under nohup or `... &` would see those children finish normally: the session gives them the
# default (Python's KeyboardInterrupt for SIGINT), which the children inherit.
if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
# Compiled kernels go where embedcli itself caches them (embedcli/__init__.py), so a test run warms
# the cache a direct `embedcli` run uses. A NUMBA_CACHE_DIR set by the caller wins; a relative one
# would follow each subprocess's cwd, so make it absolute.
if os.environ.get("NUMBA_CACHE_DIR"):
    os.environ["NUMBA_CACHE_DIR"] = str(Path(os.environ["NUMBA_CACHE_DIR"]).resolve())
# No terminal width: the CLI's consoles never wrap in a file or a pipe unless COLUMNS says so
# (render.py), and the tests check that. pytest imports readline (capture.py), and GNU readline
# exports COLUMNS=80 LINES=24 into the C environment when stdin is not a terminal: os.environ
# does not show them, but every subprocess inherits them, pytest-xdist's workers included, whose
# in-process CliRunner runs then wrapped long tmp paths at 80 columns. Unset them at C level too.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)
    os.unsetenv(_name)

#: ../shared/data next to the repository: real benchmark corpora, absent on some machines
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE_DATA = REPO / "sample_data"


# -- make test / make test-slow ------------------------------------------------------------------
#: Tests `make test` leaves to `make test-slow` (CI runs both, then `make test-fuzz`): whole files,
#: or file::test (every parametrisation). Chosen by CPU seconds per test measured with the whole
#: suite (README "Development"): cold compiles, real-data training runs, many subprocesses. A
#: test marked ``@pytest.mark.slow`` in its file goes the same way; new files stay in `make test`
#: unless listed here or marked.
SLOW_FILES = {
    "test_fuzz.py",  # make test-fuzz runs it with its whole budget
    "test_first_run.py",  # cold compiles in fresh caches
}
#: every test function of 0.8 CPU s or more (one parametrisation) or 2.4 s in all, measured (and,
#: since 2026-12-01, of 1.4 s wall or more in a warm `make test` with 2 workers: 187 s -> ~150 s)
SLOW_TESTS = {
    "test_api.py::test_every_python_block_of_the_readme_runs",  # 2.6 s wall (2 workers, warm cache)
    "test_api.py::test_import_and_load_stay_numba_free",  # 1.7 s wall (2 workers, warm cache)
    "test_api.py::test_to_gensim_gives_the_same_neighbours",  # 1.6 s wall (2 workers, warm cache)
    "test_autotune.py::test_ctrl_c_keeps_the_best_model",  # 6.6 s cpu: 5x corpus autotune, SIGINT
    "test_autotune_refit.py::test_val_split_refit_is_reproducible",  # 1.9 s wall (2 workers, warm cache)
    "test_autotune_size.py::test_too_large_candidates_are_quantized_to_fit",  # 4.0 s wall (2 workers, warm cache)
    "test_bit_identical.py::test_model_checksums_unchanged",  # 4.6 s cpu
    "test_bit_identical.py::test_resumed_run_checksums_unchanged",  # 1.5 s cpu
    "test_cli_train.py::test_train_from_stdin_subprocess",  # 2.4 s cpu
    "test_cold_compile.py::test_a_cold_default_run_compiles_its_own_kernels_once_each",  # 10.1 s cpu
    "test_compat.py::test_word2vec_export_keeps_every_real_token",  # 1.6 s cpu
    "test_damaged_files.py::test_bit_flips",  # 10.2 s wall (2 workers, warm cache)
    "test_damaged_files.py::test_damaged_classifier",  # 4.3 s cpu
    "test_damaged_files.py::test_damaged_config",  # 3.8 s cpu
    "test_damaged_files.py::test_damaged_embeddings",  # 9.8 s cpu
    "test_damaged_files.py::test_truncations",  # 6.8 s wall (2 workers, warm cache)
    "test_dask_engine.py::test_cli_encode_npy_spills_beside_the_output_and_cleans_up",  # 4.9 s wall (2 workers, warm cache)
    "test_dask_engine.py::test_encoded_directory_is_complete_verified_and_resumes",  # 3.8 s wall (2 workers, warm cache)
    "test_dask_engine.py::test_s3_inputs_against_a_local_server",  # 4.8 s wall (2 workers, warm cache)
    "test_dask_engine.py::test_train_reads_the_encoded_directory_as_its_corpus",  # 1.6 s wall (2 workers, warm cache)
    "test_dask_engine.py::test_worker_killed_mid_job_changes_nothing",  # 4.2 s cpu
    "test_dask_predict.py::test_cli_refuses_foreign_and_input_outputs",  # 3.4 s wall (2 workers, warm cache)
    "test_dask_predict.py::test_predict_parts_are_the_local_output",  # 2.9 s wall (one parametrisation) (2 workers, warm cache)
    "test_dask_predict.py::test_without_dask_one_line_and_exit_2",  # 1.6 s wall (2 workers, warm cache)
    "test_disk_full.py::test_train_and_encode_on_a_full_disk",  # 4.0 s cpu
    "test_explorer_oov_browser.py::test_an_unknown_word_on_a_subword_classifier_page",  # 1.6 s wall (2 workers, warm cache)
    "test_explorer_oov_browser.py::test_any_word_matches_python_numpy_and_nearest",  # 2.7 s wall (2 workers, warm cache)
    "test_explorer_oov_browser.py::test_python_regex_classes_run_the_same_in_the_page",  # 3.6 s wall (2 workers, warm cache)
    "test_faults.py::test_a_closed_standard_stream",  # 4.3 s cpu
    "test_faults.py::test_a_full_stdout_gives_one_line_and_exit_1",  # 2.6 s cpu
    "test_faults.py::test_a_full_tmpdir_fails_in_one_line_naming_it",  # 5.1 s cpu
    "test_faults.py::test_a_killed_worker_fails_the_command_in_one_line",  # 2.1 s cpu
    "test_faults.py::test_a_reader_that_went_away_gives_a_quiet_exit_0",  # 3.6 s cpu
    "test_faults.py::test_a_signal_at_any_phase_gives_one_line_and_its_exit_code",  # 7.3 s cpu
    "test_faults.py::test_interrupted_predict_on_stdout_says_the_output_is_incomplete",  # 1.7 s cpu
    "test_help.py::test_no_type_placeholders_for_flags_or_lists_and_no_cut_choices",  # 1.4 s wall (2 workers, warm cache)
    "test_hostile_inputs.py::test_a_200_mb_line_on_stdin_stops_at_the_line_limit",  # 2.7 s cpu
    "test_hostile_inputs.py::test_damaged_gzip_is_one_line",  # 3.0 s in all
    "test_hostile_inputs.py::test_gzip_bomb_of_one_endless_line",  # 3.5 s cpu
    "test_hostile_inputs.py::test_nul_byte_deep_in_a_file_names_its_line",  # 2.1 s cpu
    "test_hostile_inputs.py::test_pythonioencoding_ascii_does_not_crash",  # 4.1 s cpu
    "test_hostile_inputs.py::test_vocab_option_refuses_a_non_vocabulary",  # 2.8 s wall in all (2 workers, warm cache)
    "test_markup.py::test_control_characters_never_reach_the_screen_raw",  # 6.1 s cpu
    "test_markup.py::test_epoch_lines_are_whole_in_a_file",  # 2.0 s cpu
    "test_markup.py::test_markup_like_labels_and_tokens_are_shown_as_they_are",  # 8.7 s cpu
    "test_markup.py::test_missing_file_is_named_in_one_error_line",  # 2.8 s cpu
    "test_markup.py::test_twenty_class_confusion_matrix_in_a_pipe",  # 1.7 s cpu
    "test_model_cmds.py::test_plot_png_and_svg",  # 1.3 s cpu
    "test_model_cmds.py::test_shell_pipeline",  # 1.5 s cpu
    "test_output_safety.py::test_export_output_paths_fuzz",  # 2.6 s cpu (as test_output_paths_fuzz)
    "test_output_safety.py::test_file_output_refuses_a_foreign_file_and_force_replaces_it",  # 2.7 s cpu
    "test_output_safety.py::test_file_output_replaces_its_own_file_without_force",  # 2.8 s in all
    "test_output_safety.py::test_file_size_limit_names_the_output",  # 4.8 s cpu
    "test_output_safety.py::test_output_paths_fuzz",  # 4.4 s cpu
    "test_output_safety.py::test_second_writer_refuses_while_the_first_holds_the_lock",  # 1.9 s cpu
    "test_output_safety.py::test_two_concurrent_train_runs_on_one_output",  # 2.5 s cpu
    "test_pipelines.py::test_build_vocab_from_stdin_to_stdout",  # 1.1 s cpu
    "test_pipelines.py::test_build_vocab_stdout_pipes_into_encode",  # 1.2 s cpu
    "test_pipelines.py::test_encode_into_head_exits_cleanly",  # 1.4 s cpu
    "test_pipelines.py::test_sst2_build_vocab_and_encode",  # 1.1 s cpu
    "test_pretrain_cli.py::test_real_pipeline_pretrain_lookup_nearest_export",  # 2.0 s cpu
    "test_pretrain_cli.py::test_sigint_in_training_keeps_the_earlier_model_and_leaves_no_temp",  # 2.8 s wall (2 workers, warm cache)
    "test_pretrain_learning.py::test_analogies_of_a_generated_language",  # 12.9 s cpu
    "test_pretrain_learning.py::test_nearest_neighbours_on_real_sentences_beat_chance",  # 0.9 s cpu
    "test_pretrain_memory.py::test_the_prepared_corpus_is_not_resident_and_numba_is_not_loaded",  # 3.4 s wall (2 workers, warm cache)
    "test_pretrain_resume.py::test_sigint_after_a_checkpoint_then_resume",  # 9.6 s cpu
    "test_quantize_retrain.py::test_retrain_epochs_and_lr",  # 2.5 s wall (2 workers, warm cache)
    "test_readme.py::test_readme_session_matches_a_fresh_run",  # 26.7 s cpu: the whole session
    "test_resume.py::test_sigint_after_first_checkpoint_then_resume",  # 9.8 s cpu
    "test_scale.py::test_spilled_build_and_encode_is_identical",  # 3.8 s cpu
    "test_scale.py::test_spilled_encode_is_identical",  # 1.7 s cpu
    "test_signals.py::test_encode_interrupted_writes_no_partial_npy",  # 2.0 s cpu
    "test_signals.py::test_train_interrupted_keeps_the_earlier_model",  # 28.0 s cpu
    "test_similarity.py::test_nearest_agrees_with_gensim",  # 1.6 s cpu
    "test_small_defects.py::test_format_rows_matches_str_on_any_float32",  # 1.2 s cpu
    "test_small_defects.py::test_gzipped_stdin_is_decompressed",  # 2.4 s cpu
    "test_train.py::test_binary_objective_returns_two_columns",  # 1.9 s cpu
    "test_train.py::test_other_configs_learn",  # 6.0 s cpu
    "test_train.py::test_sms_spam_well_above_majority",  # 0.8 s cpu
    "test_train_memory.py::test_chunked_featurizing_is_bit_identical",  # 9.3 s cpu
    "test_train_memory.py::test_chunked_prediction_is_identical",  # 2.9 s cpu
    "test_train_options.py::test_each_model_option_learns",  # 9.3 s cpu
    "test_train_options.py::test_init_vectors_formats",  # 2.3 s cpu
    "test_train_options.py::test_multilabel_stores_thresholds",  # 1.9 s cpu
    "test_train_subwords.py::test_the_ngram_hash_kernel_equals_the_python_reference",  # 2.5 s cpu
    "test_training_core.py::test_feature_source_whole_and_chunked_give_the_same_rows",  # 1.0 s cpu
    "test_training_core.py::test_kernel_records_load_from_the_numba_cache",  # 3.4 s cpu
    "test_vectors_model.py::test_analogy_and_plot_work",  # 1.1 s cpu
    "test_vectors_model.py::test_export_words_refuses_a_classifier_model",  # 0.9 s cpu
    "test_vectors_model.py::test_export_words_writes_any_word_like_print_word_vectors",  # 2.1 s cpu
    "test_vocab.py::test_raw_counting_path_equals_document_path",  # 1.7 s cpu
    "test_vocab.py::test_raw_counting_path_equals_document_path_leading_labels",  # 2.6 s cpu
    "test_vocab.py::test_raw_path_large_blocks_spanning_lines",  # 3.0 s cpu
    "test_vocab.py::test_vocabulary_file_round_trip",  # 1.0 s cpu
    "test_wordeval.py::test_correlations_equal_scipy_with_ties",  # 1.3 s cpu
    "test_wordeval.py::test_exported_files_read_back_to_the_same_figures",  # 4.1 s cpu
    "test_wordeval.py::test_real_model_equals_gensim",  # 4.3 s cpu
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        name = getattr(item, "originalname", None) or item.name.split("[", 1)[0]
        if path.name in SLOW_FILES or f"{path.name}::{name}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def shared_data() -> Path:
    """The shared datasets folder; the test is skipped when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def write_lines(tmp_path: Path):
    """Write lines (UTF-8, trailing newline) to ``tmp_path / name`` and return the path."""

    def write(name: str, lines: list[str]) -> Path:
        path = tmp_path / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    return write


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at the new directory ``where`` (a full disk on demand: we run
    as root in CI); the test is skipped where mounting is not allowed."""
    where.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)
