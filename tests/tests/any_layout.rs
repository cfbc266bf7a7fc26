//! Any robot layout the description allows goes through every boundary a measurement
//! crosses: the tokenizer (normalise and back), the log (a real MCAP file written and read
//! back) and the serial codec (a SensorFrame encoded, fed through the accumulator, decoded).

use proptest::prelude::*;
use strider_firmware_host::link::{frame_from_sensors, sensors_from_frame};
use strider_firmware_host::{Accumulator, Counts, Feed, MAX_FRAME, Message, encode};
use strider_log::{EpisodeStart, Log, LogMeta, LogWriter, ObservationMsg, TickRecord};
use strider_policy::Tokenizer;
use strider_robot::{
    CommandField, CommandValues, Contacts, ImuField, ImuValues, JointValues, Observation, RobotSpec, Sensors,
};

/// A description (1–24 joints, 0–4 contacts, any IMU fields, 1–3 commands) and a
/// measurement of it with finite values.
fn any_robot() -> impl Strategy<Value = (RobotSpec, Observation)> {
    let commands = prop::sample::subsequence(CommandField::ALL.to_vec(), 1..=3);
    (1usize..=24, 0usize..=4, prop::sample::subsequence(ImuField::ALL.to_vec(), 0..=8), commands)
        .prop_flat_map(|(joints, contacts, imu, commands)| {
            let (n_imu, n_cmd) = (imu.len(), commands.len());
            let spec =
                RobotSpec::chain(joints, imu, contacts, commands).expect("a valid generated description");
            let values = |n: usize| prop::collection::vec(-3.0f32..3.0, n);
            (
                Just(spec),
                values(joints),
                values(joints),
                values(n_imu),
                prop::collection::vec(any::<bool>(), contacts),
                values(n_cmd),
            )
                .prop_map(|(spec, pos, vel, imu, contact, command)| {
                    let sensors = Sensors {
                        joint_pos: JointValues::from_slice(&pos),
                        joint_vel: JointValues::from_slice(&vel),
                        imu: ImuValues::from_slice(&imu),
                        contact: Contacts::from_slice(&contact),
                    };
                    (spec, Observation::new(sensors, CommandValues::from_slice(&command)))
                })
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_measurement_of_any_layout_crosses_tokenizer_log_and_serial_link_unchanged((spec, obs) in any_robot()) {
        let layout = spec.layout();
        prop_assert!(obs.sensors.fits(&layout));

        // Tokenizer: normalise (identity statistics) and back.
        let tokenizer = Tokenizer::identity(&layout);
        let (mut z, mut m) = (vec![0.0; layout.obs_dim()], vec![0.0; layout.obs_dim()]);
        tokenizer.observation(&obs, &mut z, &mut m);
        prop_assert!(m.iter().all(|&x| x == 0.0), "nothing missing");
        prop_assert_eq!(tokenizer.detokenize_observation(&layout, &z), obs);

        // Log: a real MCAP file, written and read back.
        let path = std::env::temp_dir().join(format!("strider-any-layout-{}-{}.mcap", std::process::id(), spec.contract_id()));
        let mut w = LogWriter::create(&path, &LogMeta::new(&spec, "test", "any layout", None), Default::default()).unwrap();
        w.begin_episode(&EpisodeStart { episode: 0, seed: None, conditions: String::new() }).unwrap();
        for tick in 0..3u64 {
            let observation = ObservationMsg::new(0, tick, tick as f64 * 0.02, &obs);
            w.write_tick(&TickRecord { episode: 0, tick, log_time_ns: tick, observation, action: None, sim_state: None, timing: None })
                .unwrap();
        }
        w.finish().unwrap();
        let log = Log::read(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        log.check_against(&spec).unwrap();
        prop_assert_eq!(log.episodes[0].ticks.len(), 3);
        prop_assert!(log.episodes[0].ticks.iter().all(|t| t.observation == obs));

        // Serial link: the sensors as a SensorFrame sized by the handshake's counts.
        let counts = Counts::of(&layout).unwrap();
        let frame = frame_from_sensors(&obs.sensors, 7, 3, 0);
        let mut buf = [0u8; MAX_FRAME];
        let n = encode(&Message::SensorFrame(frame), 1, 2, &mut buf).unwrap();
        let mut acc: Accumulator = Accumulator::new(counts);
        let Feed::Frame { frame: got, .. } = acc.feed(&buf[..n]) else { panic!("no frame from {n} bytes") };
        let Message::SensorFrame(got) = got.message else { panic!("not a SensorFrame: {:?}", got.message) };
        prop_assert_eq!(sensors_from_frame(&layout, &got), obs.sensors);
    }
}
