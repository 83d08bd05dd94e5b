"""``python -m alignment.train env=lift method=paab``: the project's main command."""
import hydra
from omegaconf import DictConfig

from .task import train


@hydra.main(config_path="pkg://configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    train(cfg)


if __name__ == "__main__":
    main()
