"mSFT chat encoding: one tokenisation, BOS only first, the template's end-of-turn token closes every answer (Llama- and Qwen-style tokenizers built here)."
import pytest
from datasets import Dataset, DatasetDict
from lmpapers.msft.data import chat_subdataset, chat_tokenizer, encode, end_of_turn_id, tokenize_pair

def _chats(n, off=0):
    return Dataset.from_list([dict(messages=[dict(role='system', content='Answer briefly.'), dict(role='user', content=f'What is {i} plus {i}?'),
                                             dict(role='assistant', content=f'It is {2 * i}.')]) for i in range(off, off + n)])

@pytest.mark.parametrize('style,eot', [('llama', '<|eot_id|>'), ('qwen', '<|im_end|>')])
def test_chat_rows(style, eot):
    tok = chat_tokenizer(style)
    sd = chat_subdataset('sum', DatasetDict(train=_chats(6), validation=_chats(2, 6), test=_chats(2, 8)), tok)
    enc = encode([sd], tok, 64)
    end = end_of_turn_id(tok); assert tok.convert_ids_to_tokens(end) == eot
    for i, row in enumerate(enc.rows.tolist()):
        n = int(enc.mask[i].nonzero().max()) + 1            # the row's length: the end-of-turn token is its last target
        ids = row[:n]
        if tok.bos_token_id is not None: assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
        else: assert tok.convert_ids_to_tokens(ids[0]) == '<|im_start|>'
        assert ids[-1] == end and ids.count(end) == 3       # system and user turns end with it too, then the answer's
        assert tok.decode(enc.rows[i][enc.mask[i]]) == f'It is {2 * i}.' + eot
        whole = tok(sd.splits['train'][i]['prompt'] + sd.splits['train'][i]['answer'], add_special_tokens=False)['input_ids']
        assert ids[:-1] == ([tok.bos_token_id] if tok.bos_token_id is not None and whole[0] != tok.bos_token_id else []) + whole

def test_base_llama_tokenizer_adds_one_bos():
    tok = chat_tokenizer('llama', template=False)
    ids, k = tokenize_pair(tok, 'Q: 3+4=', ' 7')
    assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id and tok.decode(ids[k:]) == ' 7'
    assert end_of_turn_id(tok) == tok.eos_token_id
    with pytest.raises(TypeError, match='must be strings'): tokenize_pair(tok, None, 'x')
