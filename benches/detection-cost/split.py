# The generated rules (one group) as two files: old.yaml, the group every 5 s as canaryc ships it
# for a 5 s plan; new.yaml, a prototype split: the short rungs (10, 15, 20 s) in a fast group
# every 5 s, the rest every 15 s. Usage: python3 split.py prometheus-alerts.yaml old.yaml new.yaml (written for
# examples/shop-compose built with scrape_interval = 5s: plan "shop")
import yaml, re, copy, sys
src, out_old, out_new = sys.argv[1:4]
d=yaml.safe_load(open(src))
rules=d['groups'][0]['rules']
SHORT={'10s','15s','20s'}
PERWIN=['canary:py3_requests:increase','canary:py3_errors:increase','canary:py3_error_ratio:window',
        'canary:py3_latency_bucket:increase','canary:py3_latency_requests:increase',
        'canary:py3_latency_slow:increase','canary:py3_latency_slow_ratio:window']
MARGINS=['canary:py3_error_ratio:margin','canary:py3_latency_slow_ratio:margin']
def terms(expr):
    return expr.split('\nor ')
def window_of(t):
    m=re.search(r'"window", "([^"]+)"', t); return m.group(1) if m else None
def keep(expr, short):
    ts=terms(expr); kept=[t for t in ts if window_of(t) is None or ((window_of(t) in SHORT)==short)]
    return '\nor '.join(kept)
def fastname(expr):
    for n in PERWIN+MARGINS:
        expr=re.sub(re.escape(n)+r'(?=[{\s)])', n+'_fast', expr)
    return expr
slow=[]; fast=[]
for r in rules:
    name=r.get('record')
    if name in ('canary:py3_requests:increase','canary:py3_errors:increase','canary:py3_latency_bucket:increase'):
        s=copy.deepcopy(r); s['expr']=keep(r['expr'],False); slow.append(s)
        f=copy.deepcopy(r); f['record']=name+'_fast'; f['expr']=fastname(keep(r['expr'],True)); fast.append(f)
    elif name in PERWIN[2:] or name in MARGINS:
        slow.append(r); f=copy.deepcopy(r); f['record']=name+'_fast'; f['expr']=fastname(r['expr']); fast.append(f)
    elif name=='canary:detection:stage_threshold':
        s=copy.deepcopy(r); s['expr']=s['expr'].replace('sum by (plan, service, window) (canary:py3_requests:increase{plan="shop"})','sum by (plan, service, window) (canary:py3_requests:increase{plan="shop"} or canary:py3_requests:increase_fast{plan="shop"})'); slow.append(s)
    elif r.get('alert') in ('CanaryPy3ErrorRate','CanaryPy3LatencyVsPy2P99'):
        f=copy.deepcopy(r); m=f['expr'].replace(' > 0','')
        f['expr']='%s > 0\nor %s > 0'%(fastname(m), m); fast.append(f)
    else:
        slow.append(r)
name=d['groups'][0]['name']
old={'groups':[{'name':name,'interval':'5s','rules':rules}]}
new={'groups':[{'name':name,'interval':'15s','rules':slow},{'name':name+'-fast','interval':'5s','rules':fast}]}
yaml.safe_dump(old,open(out_old,'w'),sort_keys=False,width=10000)
yaml.safe_dump(new,open(out_new,'w'),sort_keys=False,width=10000)
print(len(rules), len(slow), len(fast))
