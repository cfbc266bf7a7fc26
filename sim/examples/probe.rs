//! Prints 1-s window speeds of one expert episode (a tuning aid).
use strider_robot::RobotSpec;
use strider_sim::*;
fn main() {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let v = args.first().copied().unwrap_or(1.0);
    let secs = args.get(1).copied().unwrap_or(20.0);
    let seed = args.get(2).copied().unwrap_or(0.0) as u64;
    let mut sim = Sim::new(RobotSpec::reference(), SimConfig::default()).unwrap();
    let opts = RunOptions { command_vx: v, seconds: secs, ..RunOptions::default() };
    let mut last = 0.0;
    let mut line = String::new();
    let s = run_expert(&mut sim, &Scenario::default(), seed, &opts, |t| {
        let p = t.sim.privileged();
        if p.tick % 50 == 0 {
            line.push_str(&format!("{:.2} ", p.com_x - last));
            last = p.com_x;
        }
    })
    .unwrap();
    println!("{line}\nmean {:.3} fell {}", s.mean_speed_mps, s.fell);
}
