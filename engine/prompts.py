"""The words the policy sees: self-edit prompts (one per style) and question prompts.

The sandbox's curriculum is built from these same functions, so its tiny model
learns exactly the formats the engine uses.
"""

from __future__ import annotations

SELF_EDIT_INSTRUCTIONS = {
    "implications": "Write notes on this passage: what follows from it, one statement per line.",
    "long": "Write many notes on this passage: every fact it states and what follows from each, one statement per line.",
    "very-long": "Write an exhaustive set of notes on this passage: restate every fact in several ways and list all that follows, one statement per line.",
    "rewrite": "Rewrite this passage in several different ways, each rewriting on its own line.",
    "self-qa": "Write questions about this passage with their answers, one per line as: Question: ... Answer: ...",
}

QUESTION_INSTRUCTION = "Answer the question in a few words."


def self_edit_prompt(title: str, context: str, style: str = "implications", template: str = "") -> str:
    """The user turn that asks the policy for a self-edit of one passage."""
    if style == "custom":
        return template.format(title=title, context=context)
    if style not in SELF_EDIT_INSTRUCTIONS:
        raise ValueError(f"unknown prompt style {style!r}")
    return f"Title: {title}\nPassage: {context}\n{SELF_EDIT_INSTRUCTIONS[style]}"


def question_prompt(question: str) -> str:
    """Closed-book question: the passage is not shown, the adapted weights must hold it."""
    return f"{QUESTION_INSTRUCTION}\nQuestion: {question}"


def render(tokenizer, user_text: str, use_chat: bool) -> str:
    """The text given to the model before its reply (chat template or plain completion)."""
    if use_chat:
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True)
    return f"{user_text}\nAnswer:" if user_text.startswith(QUESTION_INSTRUCTION) else f"{user_text}\n"


def wants_chat(tokenizer, setting: str = "auto") -> bool:
    if setting == "off":
        return False
    has = bool(getattr(tokenizer, "chat_template", None))
    if setting == "on" and not has:
        raise ValueError("model.chat_template = \"on\" but the tokenizer has no chat template; set it to auto or off")
    return has
