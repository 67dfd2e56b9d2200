"""The benchmark validity rule: /proc/stat parsing, the foreign-CPU figure and the decision, from given numbers."""
from __future__ import annotations

import os

import pytest

from benchmarks.common import FOREIGN_CPU_LIMIT, cpu_counters, cpu_info, foreign_cpu, invalid_because, parse_proc_stat

PROC_STAT = """cpu  2714394 7 282200 1533854 15781 11 2717 8443 100 3
cpu0 1217467 0 124971 922117 8430 0 226 4139 0 0
cpu1 1496927 7 157229 611737 7350 11 2491 4304 100 3
intr 12345 0 0
ctxt 999

btime 1700000000
"""


def test_parse_proc_stat_sums_busy_fields_of_the_aggregate_line_and_counts_cpus():
    busy, cpus = parse_proc_stat(PROC_STAT)
    # user + nice + system + irq + softirq + steal; idle, iowait and guest (inside user) left out
    assert busy == 2714394 + 7 + 282200 + 11 + 2717 + 8443
    assert cpus == 2


def test_parse_proc_stat_of_an_old_kernel_with_four_fields():
    assert parse_proc_stat("cpu 10 20 30 40\ncpu0 10 20 30 40\n") == (60, 1)


def test_parse_proc_stat_without_an_aggregate_line_is_an_error():
    with pytest.raises(ValueError, match="cpu"):
        parse_proc_stat("cpu0 1 2 3 4\nintr 5\n")


def test_cpu_counters_reads_the_given_file_and_this_process_time(tmp_path):
    f = tmp_path / "stat"
    f.write_text(PROC_STAT)
    c = cpu_counters(f)
    assert c["busy_s"] == pytest.approx(parse_proc_stat(PROC_STAT)[0] / os.sysconf("SC_CLK_TCK"))
    assert c["cpus"] == 2
    t = os.times()
    assert 0 < c["own_s"] <= t.user + t.system + t.children_user + t.children_system


def counters(wall, busy, own, cpus=2):
    return {"wall_s": wall, "busy_s": busy, "own_s": own, "cpus": cpus}


def test_foreign_cpu_is_busy_time_less_own_time_per_wall_second():
    f = foreign_cpu(counters(100.0, 1000.0, 50.0), counters(110.0, 1030.0, 60.0))  # 3 cores busy, 1 our own
    assert f["cores"] == pytest.approx(2.0)
    assert f["of_machine"] == pytest.approx(1.0)
    assert (f["busy_cores"], f["own_cores"], f["wall_s"]) == (3.0, 1.0, 10.0)


def test_foreign_cpu_never_negative_when_own_time_outruns_the_ticks():
    assert foreign_cpu(counters(0.0, 0.0, 0.0), counters(10.0, 9.9, 10.0))["cores"] == 0.0


CAL = {"gflops": 100.0, "load1": 3.5}


def foreign(cores):
    return {"cores": cores, "of_machine": cores / 2, "cpus": 2, "wall_s": 60.0}


def test_a_quiet_run_after_a_busy_minute_is_valid():
    # load1 of 3.5 at the start (the previous benchmark) no longer makes a run invalid
    assert invalid_because(CAL, {"gflops": 90.0, "load1": 2.0}, foreign(0.05)) == []


def test_foreign_cpu_above_the_limit_is_invalid_and_says_the_figures():
    why = invalid_because(CAL, CAL, foreign(0.8))
    assert len(why) == 1
    assert "other processes used 0.80 cores" in why[0] and "40% of 2 CPUs" in why[0] and f"{FOREIGN_CPU_LIMIT}" in why[0]
    assert invalid_because(CAL, CAL, foreign(FOREIGN_CPU_LIMIT)) == []  # at the limit: still valid


@pytest.mark.parametrize("after, bad", [(85.1, False), (85.0, True), (114.9, False), (115.0, True), (50.0, True)])
def test_calibration_drift_of_15_percent_is_invalid(after, bad):
    why = invalid_because(CAL, {"gflops": after, "load1": 0.0}, foreign(0.0))
    assert bool(why) == bad
    if bad:
        assert why[0].startswith("calibration moved") and f"100.0 -> {after} GFLOP/s" in why[0]


def test_both_checks_failing_give_two_reasons():
    assert len(invalid_because(CAL, {"gflops": 10.0, "load1": 0.0}, foreign(1.5))) == 2


def test_best_seconds_warms_up_then_times_every_step_in_each_round():
    from benchmarks.common import best_seconds

    calls = {"a": 0, "b": 0}
    order = []

    def step(key):
        def run():
            calls[key] += 1
            order.append(key)
        return run

    best = best_seconds({"a": step("a"), "b": step("b")}, seconds=0.0, rounds=3, warmup=2, min_reps=4)
    assert set(best) == {"a", "b"} and all(0 <= v < 1 for v in best.values())
    assert calls == {"a": 2 + 1 + 3 * 4, "b": 2 + 1 + 3 * 4}  # warm-up, the sizing call, rounds x reps
    timed = order[6:]  # after both steps' warm-up and sizing calls
    assert timed == (["a"] * 4 + ["b"] * 4) * 3  # interleaved: each round times every step once


def test_cpu_info_reads_the_first_cpu_and_says_whether_bf16_is_native(tmp_path, monkeypatch):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
                 "model name\t: AMD EPYC 9R14\nflags\t\t: fma avx avx2 avx512f avx512_bf16\n\n"
                 "processor\t: 1\ncpu family\t: 6\nmodel name\t: other\nflags\t\t: avx\n")
    monkeypatch.setattr("seqtool.devices.cpu_has_bf16", lambda: True)
    info = cpu_info(f)
    assert (info["model"], info["family_model"], info["widest_simd"], info["native_bf16"]) == (
        "AMD EPYC 9R14", "25/17", "avx512_bf16", True)
    f.write_text("cpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fma avx avx2\n")
    monkeypatch.setattr("seqtool.devices.cpu_has_bf16", lambda: False)
    assert (cpu_info(f)["widest_simd"], cpu_info(f)["native_bf16"]) == ("avx2", False)
    assert cpu_info(tmp_path / "missing")["model"] == "unknown"
