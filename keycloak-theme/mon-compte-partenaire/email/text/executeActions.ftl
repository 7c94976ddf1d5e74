<#ftl output_format="plainText">
<#assign requiredActionsText><#if requiredActions??><#list requiredActions><#items as reqActionItem>${msg("requiredAction.${reqActionItem}")}<#sep> ${msg("mcpThen")} </#items></#list><#else></#if></#assign>
${msg("mcpHello", user.firstName!"", user.lastName!"")}

${msg("executeActionsBody", link, linkExpiration, realmName, requiredActionsText, linkExpirationFormatter(linkExpiration))}

${msg("mcpMailFooter")}
