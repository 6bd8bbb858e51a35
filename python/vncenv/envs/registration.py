"""The ids ``import vncenv`` registers with Gymnasium: one per gym-core game.

``vncenv/<Game>-v0`` serves ``ALE/<Game>-v5`` (or a classic-control env)
through the gym-core runtime.  Each id has an ``entry_point`` to
:class:`~vncenv.envs.vnc_env.VNCEnv` and a ``vector_entry_point`` to
:class:`~vncenv.envs.vector.VNCVectorEnv`, and is ``nondeterministic``.
Registering imports nothing heavy: the game list is data.
"""

from __future__ import annotations

__all__ = ["ALE_GAMES", "CLASSIC", "RUNTIME_IDS", "register_all", "frame_size"]

# ale-py 0.12 ships these games' ROMs.
ALE_GAMES = (
    "Adventure AirRaid Alien Amidar Assault Asterix Asteroids Atlantis Atlantis2 Backgammon BankHeist "
    "BasicMath BattleZone BeamRider Berzerk Blackjack Bowling Boxing Breakout Carnival Casino Centipede "
    "ChopperCommand CrazyClimber Crossbow Darkchambers Defender DemonAttack DonkeyKong DoubleDunk Earthworld "
    "ElevatorAction Enduro Entombed Et FishingDerby FlagCapture Freeway Frogger Frostbite Galaxian Gopher "
    "Gravitar Hangman HauntedHouse Hero HumanCannonball IceHockey Jamesbond JourneyEscape Kaboom Kangaroo "
    "KeystoneKapers KingKong Klax Koolaid Krull KungFuMaster LaserGates LostLuggage MarioBros MiniatureGolf "
    "MontezumaRevenge MrDo MsPacman NameThisGame Othello Pacman Phoenix Pitfall Pitfall2 Pong Pooyan "
    "PrivateEye Qbert Riverraid RoadRunner Robotank Seaquest SirLancelot Skiing Solaris SpaceInvaders "
    "SpaceWar StarGunner Superman Surround Tennis Tetris TicTacToe3D TimePilot Trondead Turmoil Tutankham "
    "UpNDown Venture VideoCheckers VideoChess VideoCube VideoPinball WizardOfWor WordZapper YarsRevenge Zaxxon"
).split()

# vncenv name -> (runtime env id, frame width, frame height)
CLASSIC = {
    "CartPole": ("CartPole-v1", 600, 400),
    "MountainCar": ("MountainCar-v0", 600, 400),
    "Acrobot": ("Acrobot-v1", 500, 500),
    "LunarLander": ("LunarLander-v3", 600, 400),
}
ALE_FRAME = (160, 210)

#: vncenv id -> runtime env id
RUNTIME_IDS: dict[str, str] = {
    **{f"vncenv/{game}-v0": f"ALE/{game}-v5" for game in ALE_GAMES},
    **{f"vncenv/{name}-v0": runtime_id for name, (runtime_id, _, _) in CLASSIC.items()},
}


def frame_size(runtime_id: str) -> tuple[int, int]:
    """(width, height) of the env's frames before scaling."""
    if runtime_id.startswith("ALE/"):
        return ALE_FRAME
    for runtime, width, height in CLASSIC.values():
        if runtime == runtime_id:
            return width, height
    raise KeyError(runtime_id)


def register_all() -> None:
    """Register every vncenv id (idempotent)."""
    import gymnasium

    for env_id, runtime_id in RUNTIME_IDS.items():
        if env_id in gymnasium.registry:
            continue
        gymnasium.register(
            id=env_id,
            entry_point="vncenv.envs.vnc_env:VNCEnv",
            vector_entry_point="vncenv.envs.vector:VNCVectorEnv",
            nondeterministic=True,
            kwargs={"env_id": runtime_id},
        )
