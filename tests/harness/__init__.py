"""What every test area (and the reliability scenarios) needs to run real processes: a port from the OS, a wait
on a condition with a deadline, processes stopped by PID, a private redis-server and the game server."""
from .game_server import GameServer, inherited_env_without_storage
from .ports import accepts_connections, free_port, free_ports
from .process import Process
from .redis_server import RedisServer
from .wait import wait_for

__all__ = ["GameServer", "Process", "RedisServer", "accepts_connections", "free_port", "free_ports",
           "inherited_env_without_storage", "wait_for"]
