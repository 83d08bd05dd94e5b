"""``python -m recognition.train dataset=smarthome protocol=CS method=paab data_root=...``"""
import hydra
from omegaconf import DictConfig

from envs.commands import one_line_errors

from .task import train


@hydra.main(config_path="pkg://configs", config_name="recognition", version_base="1.3")
def main(cfg: DictConfig) -> None:
    with one_line_errors():  # a refusal is one line, not a traceback
        train(cfg)


if __name__ == "__main__":
    main()
