from gongwen_archive.models import Base
from gongwen_common.migrate import run_env

run_env(Base.metadata)
