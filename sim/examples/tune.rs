//! Tuning aid: `tune SCENARIO.toml SPEED SEEDS 'expert toml overrides'` prints survival and speed.
use strider_robot::RobotSpec;
use strider_sim::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let scenario = Scenario::load(std::path::Path::new(&a[1])).unwrap();
    let v: f64 = a[2].parse().unwrap();
    let seeds: u64 = a[3].parse().unwrap();
    let expert: ExpertParams = toml::from_str(a.get(4).map_or("", |s| s.as_str())).unwrap();
    let spec = RobotSpec::reference();
    let cases: Vec<_> = (0..seeds).collect();
    let res = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for chunk in cases.chunks(seeds.div_ceil(2) as usize) {
            let (spec, scenario, res) = (&spec, &scenario, &res);
            s.spawn(move || {
                let mut sim = Sim::new(spec.clone(), SimConfig::default()).unwrap();
                for &seed in chunk {
                    let o = RunOptions { command_vx: v, seconds: 20.0, expert, ..RunOptions::default() };
                    let r = run_expert(&mut sim, scenario, seed, &o, |_| {}).unwrap();
                    res.lock().unwrap().push(r);
                }
            });
        }
    });
    let r = res.into_inner().unwrap();
    let alive: Vec<_> = r.iter().filter(|x| !x.fell).collect();
    println!(
        "{}/{} speed {:.3} falls at {:?}",
        alive.len(),
        r.len(),
        alive.iter().map(|x| x.mean_speed_mps).sum::<f64>() / alive.len().max(1) as f64,
        r.iter().filter_map(|x| x.fell_at_s).collect::<Vec<_>>()
    );
}
