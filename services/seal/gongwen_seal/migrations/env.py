from gongwen_common.migrate import run_env
from gongwen_seal.models import Base

run_env(Base.metadata)
