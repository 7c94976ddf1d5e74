<#-- The look of provisioning/notify/html.py: the wordmark, the blue rule, the footer; inline styles only. -->
<#macro emailLayout>
<html lang="${locale.language}" dir="${(ltr)?then('ltr','rtl')}">
<body style="margin:0;padding:0;background:#ffffff;color:#1e1e1e;font-family:'Segoe UI',Roboto,Arial,sans-serif;font-size:16px;line-height:1.5">
<div style="border-top:4px solid #1d3c78;border-bottom:1px solid #c9ced6;padding:8px 16px">
<span style="display:inline-block;background:#1d3c78;color:#ffffff;font-weight:700;font-size:12px;padding:8px 6px;border-radius:4px">MCP</span>
<strong style="color:#1d3c78;font-size:20px;vertical-align:middle;margin-left:8px">Mon Compte Partenaire</strong>
</div>
<div style="max-width:40rem;padding:16px">
    <#nested>
</div>
<div style="background:#f5f6f8;border-top:1px solid #c9ced6;padding:12px 16px;font-size:14px;color:#4a4a4a">
<p style="margin:0">${msg("mcpMailFooter")}</p>
</div>
</body>
</html>
</#macro>
