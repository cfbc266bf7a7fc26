//! The hopping expert drives the bundled hopper (robots/hopper.toml) at a commanded speed,
//! and refuses descriptions of another shape in one line that names the field.

use strider_robot::{Command, ContactSpec, ImuField, Observation, Plant, RobotSpec};
use strider_sim::{HopperExpert, HopperParams, Scenario, Sim, SimConfig, SimError, StartPush};

fn hopper_spec() -> RobotSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../robots/hopper.toml");
    RobotSpec::load(std::path::Path::new(path)).unwrap()
}

/// What one episode reached.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    /// Time of the fall, s, if it fell.
    fell_at: Option<f64>,
    /// Mean forward speed of the centre of mass over the last 10 s (or up to the fall), m/s.
    mean_vx: f64,
    hops: u32,
}

/// One episode on flat ground; `start_push` keeps the default scenario's random start push.
fn episode(params: HopperParams, vx: f32, seed: u64, ticks: u64, trace: bool, start_push: bool) -> Outcome {
    let spec = hopper_spec();
    let layout = spec.layout();
    let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
    let mut scenario = match start_push {
        true => Scenario::default(),
        false => Scenario {
            start_push: StartPush { max_force_n: 0.0, ..Default::default() },
            ..Scenario::default()
        },
    };
    if std::env::var("HOPPER_REAL").is_ok() {
        // The sensors' default noise and one tick of actuator latency, as on a robot.
        scenario.randomize.sensor_noise_scale = 1.0;
        scenario.randomize.latency_ticks = [1, 1];
    }
    let mut sensors = sim.reset(seed, &scenario).unwrap();
    let mut expert = HopperExpert::with_params(&spec, params).unwrap();
    let half = ticks / 2;
    let mut x_half = f64::NAN;
    let mut t_half = 0.0;
    for _ in 0..ticks {
        let obs = Observation::new(sensors, layout.forward_command(vx));
        let action = expert.act(&obs, sim.privileged_observed());
        sensors = sim.step(&Command::Track(action)).unwrap();
        let p = *sim.privileged();
        if trace {
            println!(
                "t={:.2} {:?} c={} x={:.3} h={:.3} vx={:.2} vy={:.2} pitch={:.3} ankle-com={:.3} q=[{:.2},{:.2},{:.2}] tgt=[{:.2},{:.2},{:.2}]",
                p.time_s,
                expert.phase(),
                p.foot_contact[0] as u8,
                p.com_x,
                p.torso_height,
                p.com_vx,
                p.com_vy,
                p.torso_pitch,
                p.ankle_x[0] - p.com_x,
                sensors.joint_pos[0],
                sensors.joint_pos[1],
                sensors.joint_pos[2],
                action.joint_target[0],
                action.joint_target[1],
                action.joint_target[2]
            );
        }
        if p.tick == half {
            (x_half, t_half) = (p.com_x, p.time_s);
        }
        if p.fallen {
            let mean_vx =
                if x_half.is_nan() { p.com_x / p.time_s } else { (p.com_x - x_half) / (p.time_s - t_half) };
            return Outcome { fell_at: Some(p.time_s), mean_vx, hops: expert.hops() };
        }
    }
    let p = sim.privileged();
    Outcome { fell_at: None, mean_vx: (p.com_x - x_half) / (p.time_s - t_half), hops: expert.hops() }
}

/// Tuning aid: `HOPPER_PARAMS="k_place = 0.2"` (TOML), `HOPPER_VX`, `HOPPER_SEED`,
/// `HOPPER_TRACE=1`, `HOPPER_START_PUSH=1` (the default scenario's random start push),
/// `HOPPER_REAL=1` (sensor noise and a tick of latency);
/// `cargo test --release -p strider-sim --test hopper -- --ignored --nocapture`.
#[test]
#[ignore]
fn tune() {
    let text = std::env::var("HOPPER_PARAMS").unwrap_or_default().replace(';', "\n");
    let params = HopperParams::from_toml_str(&text, "HOPPER_PARAMS").unwrap();
    let trace = std::env::var("HOPPER_TRACE").is_ok();
    let vxs: Vec<f32> = std::env::var("HOPPER_VX")
        .map(|s| s.split(',').map(|v| v.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![0.0, 0.5, 1.0]);
    let seeds: Vec<u64> = std::env::var("HOPPER_SEED")
        .map(|s| s.split(',').map(|v| v.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![0, 1, 2]);
    for &vx in &vxs {
        for &seed in &seeds {
            let pushed = std::env::var("HOPPER_START_PUSH").is_ok();
            let o = episode(params, vx, seed, 1000, trace, pushed);
            println!("vx={vx} seed={seed}: {o:?}");
        }
    }
}

#[test]
fn the_hopping_expert_refuses_other_shapes_by_field_in_one_line() {
    let spec = hopper_spec();
    assert!(HopperExpert::new(&spec).is_ok());

    let err = HopperExpert::new(&RobotSpec::reference()).unwrap_err();
    assert!(matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "joints"), "{err}");
    let text = err.to_string();
    assert!(text.contains("3 joints") || text.contains("not 3"), "{text}");
    assert!(text.contains("hopper") && !text.contains('\n'), "{text}");

    let mut two = spec.clone();
    two.sensors.contacts.push(ContactSpec { name: "shin".into(), link: "leg".into() });
    let err = HopperExpert::new(&two).unwrap_err();
    assert!(matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "sensors.contacts"), "{err}");

    let mut shin = spec.clone();
    shin.sensors.contacts[0].link = "leg".into();
    let err = HopperExpert::new(&shin).unwrap_err();
    assert!(
        matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "sensors.contacts[0].link"),
        "{err}"
    );

    let mut blind = spec.clone();
    blind.sensors.imu = vec![ImuField::Pitch];
    let err = HopperExpert::new(&blind).unwrap_err();
    assert!(matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "sensors.imu"), "{err}");

    let mut turning = spec.clone();
    turning.control.commands.push(strider_robot::CommandField::YawRate);
    let err = HopperExpert::new(&turning).unwrap_err();
    assert!(matches!(&err, SimError::UnsupportedRobot { field, .. } if field == "control.commands"), "{err}");
}

macro_rules! knobs {
    ($($f:ident : $scale:expr),* $(,)?) => {
        const KNOBS: &[(&str, f64)] = &[$((stringify!($f), $scale)),*];
        fn get(p: &HopperParams) -> Vec<f64> { vec![$(p.$f),*] }
        fn set(p: &mut HopperParams, v: &[f64]) { let mut i = 0; $(p.$f = v[i]; i += 1;)* let _ = i; }
    };
}

knobs! {
    flight_knee: 0.15, compress_knee: 0.15, thrust_knee: 0.1, thrust_ankle: 0.1, flight_ankle: 0.1,
    k_place: 0.1, neutral_share: 0.3, place_offset_m: 0.05, pitch_base: 0.05, pitch_per_speed: 0.05,
    g_pitch: 0.2, g_pitch_rate_s: 0.03, flight_attitude: 0.3, stance_kx: 1.0, stance_kv: 0.4,
    stance_ref_share: 0.3, compress_min_s: 0.03, thrust_cap_s: 0.05, speed_integral: 0.1,
    spin_gain: 0.05, spin_per_speed: 0.5, speed_integral_limit_mps: 0.1,
}

/// Score of a parameter set: survival, then speed tracking, over the commands (and, with
/// `HOPPER_PUSHED_SEEDS=n`, also over seeds 100..100+n with the default start push).
fn score(params: HopperParams, vxs: &[f32]) -> (f64, Vec<Outcome>) {
    let pushed: u64 = std::env::var("HOPPER_PUSHED_SEEDS").map(|s| s.parse().unwrap()).unwrap_or(0);
    let runs = vxs
        .iter()
        .map(|&vx| (vx, 0, false))
        .chain((100..100 + pushed).flat_map(|seed| vxs.iter().map(move |&vx| (vx, seed, true))));
    let mut total = 0.0;
    let mut outs = Vec::new();
    for (vx, seed, start_push) in runs {
        let o = episode(params, vx, seed, 1000, false, start_push);
        total += match o.fell_at {
            Some(t) => t / 20.0,
            None => 1.0 + (1.0 - ((o.mean_vx - f64::from(vx)).abs() / 0.25).min(2.0)),
        };
        outs.push(o);
    }
    (total, outs)
}

/// Tuning aid: hill climbing from `HOPPER_PARAMS` for `HOPPER_ITERS` steps.
#[test]
#[ignore]
fn search() {
    let text = std::env::var("HOPPER_PARAMS").unwrap_or_default().replace(';', "\n");
    let mut best = HopperParams::from_toml_str(&text, "HOPPER_PARAMS").unwrap();
    let iters: usize = std::env::var("HOPPER_ITERS").map(|s| s.parse().unwrap()).unwrap_or(200);
    let mut rng: u64 = std::env::var("HOPPER_RNG").map(|s| s.parse().unwrap()).unwrap_or(12345);
    let vxs: Vec<f32> = std::env::var("HOPPER_VX")
        .map(|s| s.split(',').map(|v| v.parse().unwrap()).collect())
        .unwrap_or_else(|_| vec![0.0, 0.5, 1.0]);
    let robust: usize = std::env::var("HOPPER_ROBUST").map(|s| s.parse().unwrap()).unwrap_or(1);
    let mut uniform = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng >> 11) as f64 / (1u64 << 53) as f64
    };
    // Fixed small perturbations: a gait that only survives at one exact parameter set is luck.
    let jitter: Vec<Vec<f64>> = (0..robust)
        .map(|k| {
            KNOBS.iter().map(|(_, s)| if k == 0 { 0.0 } else { (uniform() * 2.0 - 1.0) * s * 0.03 }).collect()
        })
        .collect();
    let robust_score = |p: HopperParams| -> f64 {
        jitter
            .iter()
            .map(|j| {
                let mut q = p;
                let v: Vec<f64> = get(&p).iter().zip(j).map(|(a, b)| a + b).collect();
                set(&mut q, &v);
                q.compress_min_s = q.compress_min_s.max(0.0);
                q.thrust_cap_s = q.thrust_cap_s.max(0.05);
                score(q, &vxs).0
            })
            .sum::<f64>()
            / jitter.len() as f64
    };
    let mut best_score = robust_score(best);
    println!("start: {best_score:.3}");
    for it in 0..iters {
        let mut v = get(&best);
        let step = if it % 3 == 0 { 1.0 } else { 0.4 };
        for (x, (_, s)) in v.iter_mut().zip(KNOBS) {
            if uniform() < 0.4 {
                *x += (uniform() * 2.0 - 1.0) * s * step;
            }
        }
        let mut cand = best;
        set(&mut cand, &v);
        cand.compress_min_s = cand.compress_min_s.max(0.0);
        cand.thrust_cap_s = cand.thrust_cap_s.max(0.05);
        let sc = robust_score(cand);
        if sc > best_score {
            best_score = sc;
            best = cand;
            let (_, outs) = score(best, &vxs);
            println!(
                "it {it}: score {sc:.3} {:?}",
                outs.iter().map(|o| (o.fell_at, (o.mean_vx * 100.0).round() / 100.0)).collect::<Vec<_>>()
            );
            println!("  params: {}", params_line(&best));
        }
    }
    println!("BEST {best_score:.3}: {}", params_line(&best));
}

/// The tuned knobs as `HOPPER_PARAMS` takes them.
fn params_line(p: &HopperParams) -> String {
    let line: Vec<String> = KNOBS.iter().zip(get(p)).map(|((n, _), v)| format!("{n}={v}")).collect();
    line.join(";")
}

fn run_all(vxs: &[f32]) -> Vec<(f32, u64, Outcome)> {
    let mut out = Vec::new();
    for &vx in vxs {
        for seed in 0..3 {
            let o = episode(HopperParams::default(), vx, seed, 1000, false, true);
            println!("vx {vx} seed {seed}: {o:?}");
            out.push((vx, seed, o));
        }
    }
    out
}

/// 20 s (1000 ticks) hopping in place, at 0.1 and at 0.2 m/s over three seeds, through
/// the default scenario's random start push, without a fall; the mean speed over the last
/// 10 s within 0.12 m/s of the command. The gains were tuned on seeds 0 and 100-104
/// (`search` with `HOPPER_PUSHED_SEEDS=5`) and chosen on 17000-17039; docs/SIM.md has the
/// table on 40 fresh seeds: this is the range where the gait holds (0.2 m/s: 39 of 40),
/// above it it is chaotic (0.3 m/s: 34 of 40, 0.4 m/s: 29 of 40).
#[test]
fn the_expert_hops_in_place_and_forward_up_to_0_2_mps_for_20_s_through_the_start_push() {
    for (vx, seed, o) in run_all(&[0.0, 0.1, 0.2]) {
        assert!(o.fell_at.is_none(), "vx {vx} seed {seed}: fell at {:?} s", o.fell_at);
        assert!(o.hops > 10, "vx {vx} seed {seed}: only {} hops", o.hops);
        assert!(
            (o.mean_vx - f64::from(vx)).abs() <= 0.12,
            "vx {vx} seed {seed}: mean speed over the last 10 s {:.3} m/s",
            o.mean_vx
        );
    }
}
