"""cfpc-gym environments: plants and tasks with sensory delays and cues. Knows nothing of CFPC.

Importing registers every env with Gymnasium under the ``cfpc_gym/`` namespace; the modules
(and MuJoCo) load only when an env is made.
"""

from gymnasium.envs.registration import register, registry

from .delay import SensoryDelay
from .tracking import TRACKING_FIELDS, TRACKING_KEY, TrackingSpec, tracking_info

ENV_IDS = {
    "cfpc_gym/LinearPlant-v0": "cfpc_gym.envs.linear_plant:LinearPlantEnv",
    "cfpc_gym/ElbowTrack-v0": "cfpc_gym.envs.elbow:ElbowTrackEnv",
    "cfpc_gym/ArmReach-v0": "cfpc_gym.envs.arm:ArmReachEnv",
    "cfpc_gym/Eyeblink-v0": "cfpc_gym.envs.eyeblink:EyeblinkEnv",
    "cfpc_gym/ReacherTrack-v0": "cfpc_gym.envs.reacher_adapter:make_reacher_track",
    "cfpc_gym/MuJoCoTrack-v0": "cfpc_gym.envs.mjcf_task:MJCFTrackEnv",
    "cfpc_gym/MyoElbowTrack-v0": "cfpc_gym.envs.myosuite_adapter:make_myo_elbow_track",  # extra: [myosuite]
    "cfpc_gym/MyoPose-v0": "cfpc_gym.envs.myosuite_pose:make_myo_pose",  # extra: [myosuite]
}


def register_envs() -> None:
    """Register every env of ``ENV_IDS`` with Gymnasium (lazily: nothing is imported until made)."""
    for env_id, entry_point in ENV_IDS.items():
        if env_id not in registry:
            register(id=env_id, entry_point=entry_point)


__all__ = [
    "ENV_IDS",
    "TRACKING_FIELDS",
    "TRACKING_KEY",
    "SensoryDelay",
    "TrackingSpec",
    "register_envs",
    "tracking_info",
]
