use strider_robot::RobotSpec;
use strider_sim::*;
fn main() {
    let args: Vec<f64> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let v = args.first().copied().unwrap_or(1.0);
    let secs = args.get(1).copied().unwrap_or(20.0);
    let seed = args.get(2).copied().unwrap_or(0.0) as u64;
    let mut sim = Sim::new(RobotSpec::reference(), SimConfig::default()).unwrap();
    let opts = RunOptions { command_vx: v, seconds: secs, ..RunOptions::default() };
    let s = run_expert(&mut sim, &Scenario::default(), seed, &opts, |t| {
        let p = t.sim.privileged();
        if p.tick % 25 == 0 { eprintln!("t {:.2} x {:.2} h {:.3} pitch {:.3} vx {:.2} c {:?}", p.time_s, p.com_x, p.torso_height, p.torso_pitch, p.com_vx, p.foot_contact); }
    }).unwrap();
    println!("{s:?}");
}
